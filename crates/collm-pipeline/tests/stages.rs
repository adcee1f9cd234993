//! The stage trainer on the tiny model: what each stage changes, checkpoints, a whole two-stage
//! run, resuming after a cancel, and scoring a finished run.

mod common;

use std::collections::HashMap;

use collm_cf::{CfKind, CfModelConfig};
use collm_events::{CancelToken, Event};
use collm_pipeline::pipeline::{final_dir, load_final, plans, run};
use collm_pipeline::stage::{DONE_FILE, LAST_DIR};
use collm_pipeline::{run_stage, CfInit, CollmModel, PipelineConfig, Trainable};

/// Every parameter of the model by name (LoRA, mapping, CF).
fn snapshot(model: &CollmModel) -> HashMap<String, Vec<f32>> {
    let parts = match model.slots {
        collm_pipeline::SlotSource::Cie { .. } => {
            vec![Trainable::Lora, Trainable::Mapping, Trainable::Cf]
        }
        _ => vec![Trainable::Lora, Trainable::Mapping],
    };
    model
        .vars(&parts)
        .unwrap()
        .into_iter()
        .map(|(n, v)| (n, common::flat(&v)))
        .collect()
}

fn changed(before: &HashMap<String, Vec<f32>>, after: &HashMap<String, Vec<f32>>) -> Vec<String> {
    let mut names: Vec<String> = before
        .iter()
        .filter(|(n, v)| after[*n] != **v)
        .map(|(n, _)| n.clone())
        .collect();
    names.sort();
    names
}

#[test]
fn stage_one_changes_only_lora_and_stage_two_only_the_mapping() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    for s in &mut cfg.stages {
        s.max_steps = 2;
    }
    let mut model = common::tiny_model(&cfg, &dataset);
    let stage_plans = plans(&cfg, &dir.path().join("run"));
    let mut sink = |_: &Event| {};
    let cancel = CancelToken::new();

    let before = snapshot(&model);
    run_stage(&mut model, &dataset, &stage_plans[0], &mut sink, &cancel).unwrap();
    let after1 = snapshot(&model);
    let c1 = changed(&before, &after1);
    assert!(!c1.is_empty());
    assert!(
        c1.iter().all(|n| n.contains("lora_")),
        "stage 1 changed {c1:?}"
    );
    assert!(c1.iter().any(|n| n.contains("lora_B")));

    run_stage(&mut model, &dataset, &stage_plans[1], &mut sink, &cancel).unwrap();
    let after2 = snapshot(&model);
    let c2 = changed(&after1, &after2);
    assert_eq!(
        c2,
        vec![
            "llama_proj.0.bias",
            "llama_proj.0.weight",
            "llama_proj.2.bias",
            "llama_proj.2.weight"
        ]
    );
}

#[test]
fn tuning_the_cf_model_changes_it_too() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    cfg.stages.remove(0);
    cfg.stages[0].train = vec![Trainable::Mapping, Trainable::Cf];
    cfg.stages[0].max_steps = 1;
    let mut model = common::tiny_model(&cfg, &dataset);
    let before = snapshot(&model);
    let plan = &plans(&cfg, &dir.path().join("run"))[0];
    run_stage(
        &mut model,
        &dataset,
        plan,
        &mut |_: &Event| {},
        &CancelToken::new(),
    )
    .unwrap();
    let c = changed(&before, &snapshot(&model));
    assert!(c.iter().any(|n| n.starts_with("cf.")), "{c:?}");
    assert!(c.iter().all(|n| !n.contains("lora_")), "{c:?}");
}

#[test]
fn two_stage_run_events_checkpoints_and_final_model() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    let mut model = common::tiny_model(&cfg, &dataset);
    let run_dir = dir.path().join("run");
    let mut events = Vec::new();
    let outcome = run(
        &mut model,
        &cfg,
        &dataset,
        &run_dir,
        &mut |e: &Event| events.push(e.clone()),
        &CancelToken::new(),
    )
    .unwrap();
    assert!(!outcome.cancelled);
    assert_eq!(outcome.stages.len(), 2);
    let best = outcome.best.clone().expect("the final stage evaluated");
    assert_eq!(best.all.rows, 16);
    assert!(best.all.auc.is_some());

    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::StageStarted { stage, .. } => Some(stage.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec!["stage1", "stage2"]);
    let steps = events
        .iter()
        .filter(|e| matches!(e, Event::Step { .. }))
        .count();
    assert_eq!(steps, 12);
    let evals = events
        .iter()
        .filter(|e| matches!(e, Event::Eval { split, .. } if split == "valid_small"))
        .count();
    assert_eq!(evals, 6);
    for stage in ["stage1", "stage2"] {
        for part in [
            "best/lora.safetensors",
            "best/mapping.safetensors",
            "best/cf.safetensors",
            "best/state.json",
            "last/optimizer.safetensors",
            "done.json",
        ] {
            assert!(run_dir.join(stage).join(part).exists(), "{stage}/{part}");
        }
    }
    let fin = final_dir(&run_dir);
    for part in [
        "lora.safetensors",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "mapping.safetensors",
        "cf.safetensors",
    ] {
        assert!(fin.join(part).exists(), "final/{part}");
    }
    let cfg_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fin.join("adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg_json["r"], 8);

    // A fresh model loaded from `final/` scores exactly like the trained one.
    let fresh = common::tiny_model(&cfg, &dataset);
    load_final(&fresh, &run_dir).unwrap();
    assert_eq!(snapshot(&fresh), snapshot(&model));

    // Running again on a finished folder skips both stages and changes nothing.
    let mut again = common::tiny_model(&cfg, &dataset);
    let mut events2 = Vec::new();
    let o2 = run(
        &mut again,
        &cfg,
        &dataset,
        &run_dir,
        &mut |e: &Event| events2.push(e.clone()),
        &CancelToken::new(),
    )
    .unwrap();
    assert!(events2.iter().all(|e| !matches!(e, Event::Step { .. })));
    assert_eq!(o2.best, outcome.best);
    assert_eq!(snapshot(&again), snapshot(&model));
}

/// Stage 2 tunes a SASRec from scratch (with dropout) alongside the mapping.
fn tune_sasrec(cfg: &mut PipelineConfig, dropout: f64) {
    let mut sasrec = CfModelConfig::new(CfKind::Sasrec, 8);
    sasrec.dropout = Some(dropout);
    cfg.slots.cf = Some(sasrec);
    cfg.slots.cf_init = CfInit::Scratch;
    cfg.slots.cf_weights = None;
    cfg.stages[1].train = vec![Trainable::Mapping, Trainable::Cf];
}

/// Where the interrupted run of [`resumes_like_an_uninterrupted_run`] stops in its stage.
#[derive(Clone, Copy)]
enum Stop {
    /// Cancelled on this step's event: after step 3, between evaluations (the resume point is
    /// the one the cancel writes); after step 4, on the evaluation that step is due.
    AfterStep(u64),
    /// Killed as the stage starts, before it wrote any resume point: the stages before it are
    /// finished and the resumed process meets them as such.
    KilledAtStart,
}

/// Runs the tiny config, changed by `edit`, straight, and again stopped in `stage` as `stop`
/// says and resumed in a fresh model: the resumed run must do what the first had left (the
/// evaluation a cancel interrupted first, then the next step) and end bit-identical to the
/// straight one.
fn resumes_like_an_uninterrupted_run(edit: impl Fn(&mut PipelineConfig), stage: &str, stop: Stop) {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    edit(&mut cfg);
    let cfg = &cfg;

    let mut straight = common::tiny_model(cfg, &dataset);
    let o1 = run(
        &mut straight,
        cfg,
        &dataset,
        &dir.path().join("a"),
        &mut |_: &Event| {},
        &CancelToken::new(),
    )
    .unwrap();

    let run_dir = dir.path().join("b");
    let mut first = common::tiny_model(cfg, &dataset);
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let mut sink = move |e: &Event| match (e, stop) {
        (Event::Step { stage: s, step, .. }, Stop::AfterStep(at)) if s == stage && *step == at => {
            c2.cancel()
        }
        (Event::StageStarted { stage: s, .. }, Stop::KilledAtStart) if s == stage => c2.cancel(),
        _ => {}
    };
    let o = run(&mut first, cfg, &dataset, &run_dir, &mut sink, &cancel).unwrap();
    assert!(o.cancelled);
    let done = match stop {
        Stop::AfterStep(at) => at,
        Stop::KilledAtStart => 0,
    };
    assert_eq!(o.stages.last().unwrap().1.steps, done);
    if let Stop::KilledAtStart = stop {
        let plan = plans(cfg, &run_dir)
            .into_iter()
            .find(|p| p.name == stage)
            .unwrap();
        std::fs::remove_dir_all(plan.dir.join(LAST_DIR)).unwrap();
    }

    let mut resumed = common::tiny_model(cfg, &dataset);
    let mut events = Vec::new();
    let o2 = run(
        &mut resumed,
        cfg,
        &dataset,
        &run_dir,
        &mut |e: &Event| match e {
            Event::Step { stage, step, .. } => events.push((stage.clone(), "step", *step)),
            Event::Eval { stage, step, .. } => events.push((stage.clone(), "eval", *step)),
            _ => {}
        },
        &CancelToken::new(),
    )
    .unwrap();
    // The stages evaluate every second step (of 6): a cancel after step 4 interrupted that
    // evaluation, so the resumed stage begins with it; then the next two steps as ever.
    let (eval_every, max_steps) = (2, 6);
    let mut want = Vec::new();
    if done > 0 && done % eval_every == 0 {
        want.push((stage.to_string(), "eval", done));
    }
    for s in done + 1..=(done + 2).min(max_steps) {
        want.push((stage.to_string(), "step", s));
        if s % eval_every == 0 {
            want.push((stage.to_string(), "eval", s));
        }
    }
    assert_eq!(events[..want.len()], want[..]);
    assert_eq!(o2.best, o1.best);
    assert_eq!(snapshot(&resumed), snapshot(&straight));
    // The best checkpoints may predate the cancel; each stage's last resume point is its final
    // state (weights, optimiser moments, mask positions) and must match to the byte.
    for (a, b) in plans(cfg, &dir.path().join("a"))
        .iter()
        .zip(plans(cfg, &run_dir))
    {
        let (want, got) = (last_files(&a.dir), last_files(&b.dir));
        let names =
            |files: &[(String, Vec<u8>)]| files.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want), "{}", b.name);
        for ((name, x), (_, y)) in want.iter().zip(&got) {
            assert!(x == y, "{}: last/{name} differs", b.name);
        }
        // The best checkpoint's state too: the same best step, the same mask positions.
        let best_state =
            |dir: &std::path::Path| std::fs::read(dir.join("best/state.json")).unwrap();
        assert!(
            best_state(&a.dir) == best_state(&b.dir),
            "{}: best/state.json differs",
            b.name
        );
    }
}

/// The files of a stage's last resume point, by name, with their bytes.
fn last_files(stage_dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(stage_dir.join(LAST_DIR))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_cancelled_run_resumes_to_the_same_result() {
    resumes_like_an_uninterrupted_run(|_| {}, "stage2", Stop::AfterStep(3));
}

#[test]
fn a_cancel_during_an_evaluation_is_evaluated_again_on_resume() {
    // The cancel arrives with step 4's evaluation due; the resumed stage does it before step 5
    // (it once went on to step 5, and a stage's last evaluation, so its best, was lost).
    resumes_like_an_uninterrupted_run(|_| {}, "stage1", Stop::AfterStep(4));
    resumes_like_an_uninterrupted_run(|_| {}, "stage2", Stop::AfterStep(6));
}

#[test]
fn a_resumed_stage_continues_the_lora_dropout_masks() {
    resumes_like_an_uninterrupted_run(|cfg| cfg.lora.dropout = 0.3, "stage1", Stop::AfterStep(3));
}

#[test]
fn a_stage_after_a_finished_one_continues_its_lora_dropout_masks() {
    // Stage 2 tunes LoRA too: started in a new process after stage 1 finished, it must draw the
    // masks that follow stage 1's, as in one process (a resume at the boundary, a reused stage).
    let edit = |cfg: &mut PipelineConfig| {
        cfg.lora.dropout = 0.3;
        cfg.stages[1].train = vec![Trainable::Mapping, Trainable::Lora];
    };
    resumes_like_an_uninterrupted_run(edit, "stage2", Stop::KilledAtStart);
}

#[test]
fn a_resumed_stage_continues_the_cf_dropout_masks() {
    resumes_like_an_uninterrupted_run(|cfg| tune_sasrec(cfg, 0.3), "stage2", Stop::AfterStep(3));
}

#[test]
fn evaluations_inside_a_stage_run_without_dropout() {
    // With nothing learning (learning rates and decay 0), every evaluation of the stage sees the
    // same weights, so their metrics must agree: a dropout left on while scoring breaks that.
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    tune_sasrec(&mut cfg, 0.5);
    cfg.lora.dropout = 0.5;
    for s in &mut cfg.stages {
        (s.lr, s.min_lr, s.warmup_lr, s.weight_decay) = (0.0, 0.0, 0.0, 0.0);
        s.max_steps = 3;
        s.eval_every = 1;
        s.patience = 10;
    }
    let mut model = common::tiny_model(&cfg, &dataset);
    let mut evals = Vec::new();
    run(
        &mut model,
        &cfg,
        &dataset,
        &dir.path().join("run"),
        &mut |e: &Event| {
            if let Event::Eval { stage, metrics, .. } = e {
                evals.push((stage.clone(), metrics.clone()));
            }
        },
        &CancelToken::new(),
    )
    .unwrap();
    for stage in ["stage1", "stage2"] {
        let of_stage: Vec<_> = evals.iter().filter(|(s, _)| s == stage).collect();
        assert_eq!(of_stage.len(), 3, "{stage}");
        assert!(
            of_stage.iter().all(|(_, m)| *m == of_stage[0].1),
            "{stage}: {of_stage:?}"
        );
    }
}

#[test]
fn an_adopted_stage_brings_only_what_it_trains_and_is_then_skipped() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    for s in &mut cfg.stages {
        s.max_steps = 2;
    }
    let (source_run, run) = (dir.path().join("source"), dir.path().join("run"));
    let cancel = CancelToken::new();
    let mut source = common::tiny_model(&cfg, &dataset);
    let source_plan = &plans(&cfg, &source_run)[0];
    let not_done = collm_pipeline::adopt_stage(&source, source_plan, &source_plan.dir)
        .unwrap_err()
        .to_string();
    assert!(not_done.contains("done.json"), "{not_done}");
    run_stage(
        &mut source,
        &dataset,
        source_plan,
        &mut |_: &Event| {},
        &cancel,
    )
    .unwrap();
    let trained = snapshot(&source);

    // This run's mapping differs from the source's: adopting stage 1 (LoRA) must keep it.
    let mut model = common::tiny_model(&cfg, &dataset);
    let mapping = model.vars(&[Trainable::Mapping]).unwrap();
    let (_, first) = &mapping[0];
    first.set(&(first.as_tensor() + 1.0).unwrap()).unwrap();
    let mine = snapshot(&model);

    let plan = &plans(&cfg, &run)[0];
    let state = collm_pipeline::adopt_stage(&model, plan, &source_plan.dir).unwrap();
    assert!(state.done);
    let adopted = snapshot(&model);
    for (name, values) in &adopted {
        let expected = if name.contains("lora_") {
            &trained[name]
        } else {
            &mine[name]
        };
        assert_eq!(values, expected, "{name}");
    }

    let mut events = Vec::new();
    let outcome = run_stage(
        &mut model,
        &dataset,
        plan,
        &mut |e: &Event| events.push(e.clone()),
        &cancel,
    )
    .unwrap();
    assert_eq!(outcome.steps_here, 0, "{events:?}");
    assert_eq!(outcome.best_step, state.best_step);
    assert_eq!(
        snapshot(&model),
        adopted,
        "the skipped stage reloads what was adopted"
    );
}

/// A stage killed after the resume point that recorded its last bad evaluation, before it
/// marked itself finished: on resume it stops early at once, as the uninterrupted stage did,
/// instead of training further.
#[test]
fn a_stage_killed_as_it_stopped_early_stops_again_on_resume() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    cfg.stages.truncate(1);
    cfg.stages[0].patience = 1;
    cfg.stages[0].max_steps = 12;
    let plan = &plans(&cfg, dir.path())[0];
    let mut model = common::tiny_model(&cfg, &dataset);
    let cancel = CancelToken::new();
    let straight = run_stage(&mut model, &dataset, plan, &mut |_: &Event| {}, &cancel).unwrap();
    assert!(straight.stopped_early, "the fixture must stop early");
    // The state the kill leaves: the last resume point written, no done marker.
    std::fs::remove_file(plan.dir.join(DONE_FILE)).unwrap();
    let mut again = common::tiny_model(&cfg, &dataset);
    let mut steps = 0;
    let resumed = run_stage(
        &mut again,
        &dataset,
        plan,
        &mut |e: &Event| steps += usize::from(matches!(e, Event::Step { .. })),
        &cancel,
    )
    .unwrap();
    assert_eq!(steps, 0);
    assert!(resumed.stopped_early);
    assert_eq!(
        (resumed.steps, resumed.best_step),
        (straight.steps, straight.best_step)
    );
    assert_eq!(snapshot(&again), snapshot(&model));
    // An empty or cut-off marker (a write cut short by an older build) reads as none, not as
    // an error that would stop every resume.
    for cut in ["", "{\"step\": 3,"] {
        std::fs::write(plan.dir.join(DONE_FILE), cut).unwrap();
        assert!(!collm_pipeline::stage::stage_finished(&plan.dir));
        let mut third = common::tiny_model(&cfg, &dataset);
        let resumed = run_stage(&mut third, &dataset, plan, &mut |_: &Event| {}, &cancel).unwrap();
        assert!(resumed.stopped_early && resumed.steps == straight.steps);
        assert!(collm_pipeline::stage::stage_finished(&plan.dir));
    }
}

/// A stage whose evaluation rows all hold one label, or that has none, could never tell a
/// better step: refused, naming the stage, before anything trains.
#[test]
fn a_stage_evaluating_rows_of_one_label_is_refused() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    cfg.stages[0].eval_rows = Some(1);
    let plans = plans(&cfg, dir.path());
    let err = collm_pipeline::stage::eval_rows(&dataset, &plans[0])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("stage1: its evaluation rows of `valid_small` (1 rows) all hold label"),
        "{err}"
    );
    assert!(collm_pipeline::stage::eval_rows(&dataset, &plans[1]).is_ok());
    // No rows at all (a header-only valid_small): refused too, not a silent first step.
    let mut empty = dataset.clone();
    empty.valid_small.rows.clear();
    let err = collm_pipeline::stage::eval_rows(&empty, &plans[1])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("stage2: its eval_split `valid_small` has no rows"),
        "{err}"
    );
}
