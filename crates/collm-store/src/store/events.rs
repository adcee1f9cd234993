//! A run's events folded into the store: steps and evaluations as points, checkpoints as
//! artifacts, log lines, the status the outcome events set, and the best evaluation per part.

use collm_events::Event;

use super::{apply_status, held, Store};
use crate::clock::now_ms;
use crate::error::StoreError;
use crate::id::RunId;
use crate::record::*;

impl Store {
    /// Records one event of a run: steps and evaluations become points, checkpoints artifacts,
    /// log messages log lines, and the outcome events set the status. Flushes on every event
    /// but steps (a step is counted into the record at its next write).
    pub fn append_event(&self, id: &RunId, event: &Event) -> Result<(), StoreError> {
        let now = now_ms();
        match event {
            Event::Step {
                stage,
                step,
                loss,
                lr,
            } => {
                let point = StepPoint {
                    stage: stage.clone(),
                    step: *step,
                    loss: *loss,
                    lr: *lr,
                    at_ms: now,
                };
                self.put_point(&self.steps, id, "step", &point)?;
                *self.lock_state().entry(id.clone()).or_insert(0) += 1;
                Ok(())
            }
            Event::Eval {
                stage,
                step,
                split,
                metrics,
            } => {
                let point = EvalPoint {
                    stage: stage.clone(),
                    step: *step,
                    split: split.clone(),
                    metrics: metrics.clone(),
                    at_ms: now,
                };
                // An evaluation of a split at a stage's step is one: a resumed stage that
                // evaluates its resume step again (killed before it moved on) replaces it.
                let at_resume = held(&self.resumed_at)
                    .get(id)
                    .is_some_and(|(s, at)| s == stage && at == step);
                let same = |p: &EvalPoint| {
                    p.stage == point.stage && p.step == point.step && p.split == point.split
                };
                if at_resume && self.remove_points(&self.evals, id, "evaluation", same)? > 0 {
                    self.put_point(&self.evals, id, "evaluation", &point)?;
                    return self.recount(id);
                }
                self.put_point(&self.evals, id, "evaluation", &point)?;
                self.update(id, true, |r| {
                    r.evals += 1;
                    keep_best(&mut r.best, point);
                })
            }
            Event::Resumed { stage, step } => {
                held(&self.resumed_at).insert(id.clone(), (stage.clone(), *step));
                let past = |s: &str, at: u64| s == stage && at > *step;
                self.remove_points(&self.steps, id, "step", |p: &StepPoint| {
                    past(&p.stage, p.step)
                })?;
                self.remove_points(&self.evals, id, "evaluation", |p: &EvalPoint| {
                    past(&p.stage, p.step)
                })?;
                self.recount(id)?;
                self.update(id, true, |r| {
                    if let Some(s) = r.stages.iter_mut().rev().find(|s| &s.name == stage) {
                        s.resumed = Some(StageResume {
                            at_ms: now,
                            step: *step,
                        });
                    }
                })
            }
            Event::Checkpoint {
                stage,
                step,
                path,
                best,
            } => {
                let artifact = Artifact {
                    stage: stage.clone(),
                    step: *step,
                    path: path.clone(),
                    best: *best,
                    at_ms: now,
                };
                self.update(id, true, |r| {
                    r.artifacts.retain(|a| a.path != artifact.path);
                    r.artifacts.push(artifact);
                })
            }
            // Flushed: what a kill after it leaves is read from it.
            Event::StageStarted { stage, total_steps } => self.update(id, true, |r| {
                if r.status == RunStatus::Queued {
                    apply_status(r, RunStatus::Running);
                }
                // A stage's name is one stage of the run: started again by a resume (which
                // may meet it finished, and end it again), it is the stage begun then.
                if let Some(again) = r.stages.iter_mut().find(|s| &s.name == stage) {
                    again.total_steps = *total_steps;
                    return;
                }
                r.stages.push(StageInfo {
                    name: stage.clone(),
                    total_steps: *total_steps,
                    started_ms: now,
                    finished_ms: None,
                    resumed: None,
                });
            }),
            // Flushed, as the log lines: rare, and a kill just after must not lose them (a
            // resume does not tell them again). Said again on resume, a stage keeps its end.
            Event::StageFinished { stage } => self.update(id, true, |r| {
                if let Some(s) = r.stages.iter_mut().rev().find(|s| &s.name == stage) {
                    s.finished_ms.get_or_insert(now);
                }
            }),
            Event::Log { message } => self.update(id, true, |r| {
                r.log.push(LogLine {
                    at_ms: now,
                    message: message.clone(),
                })
            }),
            Event::Finished => self.update(id, true, |r| apply_status(r, RunStatus::Finished)),
            Event::Cancelled => self.update(id, true, |r| apply_status(r, RunStatus::Cancelled)),
            Event::Failed { error } => self.update(id, true, |r| {
                r.error = Some(error.clone());
                apply_status(r, RunStatus::Failed);
            }),
        }
    }

    /// Records ranking metrics of a split (replacing earlier ones of the same stage and
    /// split). Flushes.
    pub fn record_ranking(&self, id: &RunId, point: RankingPoint) -> Result<(), StoreError> {
        self.update(id, true, |r| {
            r.ranking
                .retain(|p| !(p.stage == point.stage && p.split == point.split));
            r.ranking.push(point);
        })
    }
}

/// Keeps, per (stage, split), the evaluation with the highest all-rows AUC (the first on ties,
/// like the trainers' strict-improvement rule; an AUC beats none).
pub(super) fn keep_best(best: &mut Vec<EvalPoint>, point: EvalPoint) {
    match best
        .iter_mut()
        .find(|e| e.stage == point.stage && e.split == point.split)
    {
        Some(old) => {
            let better = match (point.metrics.all.auc, old.metrics.all.auc) {
                (Some(new), Some(old)) => new > old,
                (Some(_), None) => true,
                _ => false,
            };
            if better {
                *old = point;
            }
        }
        None => best.push(point),
    }
}
