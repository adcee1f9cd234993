//! One run as the Run and Compare views show it: per-stage curves (raw and smoothed loss, lr,
//! evaluation AUC/UAUC over steps), progress, and the event log, built from the store and kept
//! current by the runner's live events.

use collm_events::Event;
use collm_store::{EvalPoint, FullRun, RunId, FINAL_STAGE};

use crate::tui::widgets::format;
use crate::tui::widgets::smoothing::Ema;

/// A curve: (step, value) points.
pub type Points = Vec<(f64, f64)>;

/// How strongly the loss curve is smoothed (see [`Ema`]).
pub const SMOOTHING: f64 = 0.9;

/// The curves and progress of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSeries {
    pub name: String,
    pub total_steps: Option<u64>,
    /// (step, loss) as reported.
    pub loss: Vec<(f64, f64)>,
    /// (step, smoothed loss).
    pub smooth: Vec<(f64, f64)>,
    pub lr: Vec<(f64, f64)>,
    pub evals: Vec<EvalPoint>,
    pub started_ms: Option<u64>,
    pub finished: bool,
    /// Time and step of the first and the latest step, for the rate and the ETA.
    first: Option<(u64, u64)>,
    last: Option<(u64, u64)>,
    ema: Ema,
}

impl StageSeries {
    fn new(name: &str) -> Self {
        StageSeries {
            name: name.to_string(),
            total_steps: None,
            loss: Vec::new(),
            smooth: Vec::new(),
            lr: Vec::new(),
            evals: Vec::new(),
            started_ms: None,
            finished: false,
            first: None,
            last: None,
            ema: Ema::new(SMOOTHING),
        }
    }

    fn push_step(&mut self, step: u64, loss: f64, lr: f64, at_ms: u64) {
        let x = step as f64;
        self.loss.push((x, loss));
        self.smooth.push((x, self.ema.push(loss)));
        self.lr.push((x, lr));
        self.first.get_or_insert((at_ms, step));
        self.last = Some((at_ms, step));
    }

    /// Forgets what was drawn past `step`: the stage resumed from there, and its next steps
    /// replace them. The smoothed curve is drawn again from the losses left.
    fn truncate_after(&mut self, step: u64) {
        let x = step as f64;
        self.loss.retain(|&(s, _)| s <= x);
        self.lr.retain(|&(s, _)| s <= x);
        self.evals.retain(|e| e.step <= step);
        self.ema = Ema::new(SMOOTHING);
        self.smooth = self
            .loss
            .iter()
            .map(|&(s, l)| (s, self.ema.push(l)))
            .collect();
        // The rate is measured again from the first step after the resume.
        self.first = None;
        self.last = self.loss.last().map(|&(s, _)| (0, s as u64));
    }

    /// The latest step reached.
    pub fn step(&self) -> u64 {
        self.last.map_or(0, |(_, s)| s)
    }

    /// Steps per second over the stage so far.
    pub fn rate(&self) -> Option<f64> {
        let ((t0, s0), (t1, s1)) = (self.first?, self.last?);
        (t1 > t0 && s1 > s0).then(|| (s1 - s0) as f64 / ((t1 - t0) as f64 / 1000.0))
    }

    /// Fraction done, when the step budget is known.
    pub fn progress(&self) -> Option<f64> {
        let total = self.total_steps.filter(|t| *t > 0)?;
        Some(if self.finished {
            1.0
        } else {
            (self.step() as f64 / total as f64).min(1.0)
        })
    }

    /// Seconds left at the current rate.
    pub fn eta_s(&self) -> Option<f64> {
        if self.finished {
            return None;
        }
        let left = self.total_steps?.saturating_sub(self.step());
        Some(left as f64 / self.rate()?)
    }

    /// Evaluations of `split` as (step, all-rows AUC) and (step, UAUC).
    pub fn eval_curves(&self, split: &str) -> (Points, Points) {
        let points = self.evals.iter().filter(|e| e.split == split);
        let auc = points
            .clone()
            .filter_map(|e| Some((e.step as f64, e.metrics.all.auc?)))
            .collect();
        let uauc = points
            .filter_map(|e| Some((e.step as f64, e.metrics.all.uauc?)))
            .collect();
        (auc, uauc)
    }

    /// The splits this stage evaluated, `valid` first.
    pub fn eval_splits(&self) -> Vec<String> {
        let mut splits: Vec<String> = Vec::new();
        for e in &self.evals {
            if !splits.contains(&e.split) {
                splits.push(e.split.clone());
            }
        }
        splits.sort_by_key(|s| (s != "valid", s.clone()));
        splits
    }
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub at_ms: u64,
    pub text: String,
    pub error: bool,
    /// The file a checkpoint line announces: a later save of it replaces the line, as the
    /// store keeps one record of each file (so a run reopened reads as it did live).
    pub checkpoint: Option<String>,
}

/// A run's curves and log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetail {
    pub id: RunId,
    /// Training stages, in the order they started.
    pub stages: Vec<StageSeries>,
    /// The final evaluations of the best weights (the `final` stage), one per split.
    pub results: Vec<EvalPoint>,
    pub log: Vec<LogEntry>,
}

impl RunDetail {
    pub fn new(id: RunId) -> Self {
        RunDetail {
            id,
            stages: Vec::new(),
            results: Vec::new(),
            log: Vec::new(),
        }
    }

    /// The run as stored: the same curves and log lines the live events would have built.
    pub fn from_full(full: &FullRun) -> Self {
        let record = &full.record;
        let mut detail = RunDetail::new(record.id.clone());
        // Replay in time order, so the log reads as it happened.
        let mut events: Vec<(u64, u8, Event)> = Vec::new();
        for s in &record.stages {
            events.push((
                s.started_ms,
                0,
                Event::StageStarted {
                    stage: s.name.clone(),
                    total_steps: s.total_steps,
                },
            ));
            if let Some(end) = s.finished_ms {
                events.push((
                    end,
                    3,
                    Event::StageFinished {
                        stage: s.name.clone(),
                    },
                ));
            }
            // Its speed is measured from the resume on, as live.
            if let Some(resume) = s.resumed {
                events.push((
                    resume.at_ms,
                    0,
                    Event::Resumed {
                        stage: s.name.clone(),
                        step: resume.step,
                    },
                ));
            }
        }
        for p in &full.steps {
            events.push((
                p.at_ms,
                1,
                Event::Step {
                    stage: p.stage.clone(),
                    step: p.step,
                    loss: p.loss,
                    lr: p.lr,
                },
            ));
        }
        for e in &full.evals {
            events.push((
                e.at_ms,
                2,
                Event::Eval {
                    stage: e.stage.clone(),
                    step: e.step,
                    split: e.split.clone(),
                    metrics: e.metrics.clone(),
                },
            ));
        }
        for a in &record.artifacts {
            events.push((
                a.at_ms,
                2,
                Event::Checkpoint {
                    stage: a.stage.clone(),
                    step: a.step,
                    path: a.path.clone(),
                    best: a.best,
                },
            ));
        }
        for l in &record.log {
            events.push((
                l.at_ms,
                2,
                Event::Log {
                    message: l.message.clone(),
                },
            ));
        }
        if let Some(end) = record.ended_ms {
            use collm_store::RunStatus::*;
            let outcome = match record.status {
                Finished => Some(Event::Finished),
                Cancelled => Some(Event::Cancelled),
                Failed => Some(Event::Failed {
                    error: record
                        .error
                        .clone()
                        .unwrap_or_else(|| "no reason recorded".into()),
                }),
                Interrupted => Some(Event::Log {
                    message: format!(
                        "run interrupted: {}",
                        record.error.as_deref().unwrap_or("its process stopped")
                    ),
                }),
                Queued | Running => None,
            };
            if let Some(event) = outcome {
                events.push((end, 4, event));
            }
        }
        events.sort_by_key(|(at, order, _)| (*at, *order));
        for (at, _, event) in &events {
            detail.apply(event, *at);
        }
        detail
    }

    fn stage_mut(&mut self, name: &str) -> &mut StageSeries {
        let i = match self.stages.iter().rposition(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.stages.push(StageSeries::new(name));
                self.stages.len() - 1
            }
        };
        &mut self.stages[i]
    }

    /// Takes one event that happened at `at_ms`.
    pub fn apply(&mut self, event: &Event, at_ms: u64) {
        match event {
            Event::Step {
                stage,
                step,
                loss,
                lr,
            } => {
                // A step both loaded from the store and received live is drawn once (steps
                // only grow within a stage). Steps are not logged: they are the curves.
                let s = self.stage_mut(stage);
                if s.last.is_none_or(|(_, last)| *step > last) {
                    s.push_step(*step, *loss, *lr, at_ms);
                }
                return;
            }
            Event::StageStarted { stage, total_steps } => {
                let s = self.stage_mut(stage);
                s.total_steps = *total_steps;
                s.started_ms = Some(at_ms);
            }
            Event::StageFinished { stage } => self.stage_mut(stage).finished = true,
            // The log line that follows says it.
            Event::Resumed { stage, step } => {
                self.stage_mut(stage).truncate_after(*step);
                return;
            }
            Event::Eval {
                stage,
                split,
                metrics,
                step,
            } if stage == FINAL_STAGE => {
                self.results.retain(|e| &e.split != split);
                self.results.push(EvalPoint {
                    stage: stage.clone(),
                    step: *step,
                    split: split.clone(),
                    metrics: metrics.clone(),
                    at_ms,
                });
            }
            Event::Eval {
                stage,
                split,
                metrics,
                step,
            } => {
                let s = self.stage_mut(stage);
                if s.evals.iter().any(|e| e.step == *step && &e.split == split) {
                    return;
                }
                s.evals.push(EvalPoint {
                    stage: stage.clone(),
                    step: *step,
                    split: split.clone(),
                    metrics: metrics.clone(),
                    at_ms,
                });
            }
            _ => {}
        }
        let checkpoint = match event {
            Event::Checkpoint { path, .. } => Some(path.clone()),
            _ => None,
        };
        if checkpoint.is_some() {
            self.log.retain(|l| l.checkpoint != checkpoint);
        }
        self.log.push(LogEntry {
            at_ms,
            text: describe(event),
            error: matches!(event, Event::Failed { .. }),
            checkpoint,
        });
    }
}

/// The event log's wording of an event.
pub fn describe(event: &Event) -> String {
    match event {
        Event::StageStarted {
            stage,
            total_steps: Some(n),
        } => {
            format!("stage {stage} started ({n} steps)")
        }
        Event::StageStarted {
            stage,
            total_steps: None,
        } => format!("stage {stage} started"),
        Event::Step {
            stage, step, loss, ..
        } => format!("{stage} step {step}: loss {loss:.4}"),
        Event::Eval {
            stage,
            step,
            split,
            metrics,
        } => format!(
            "{stage} step {step}: {split} AUC {} UAUC {} (warm {}, cold {})",
            format::metric(metrics.all.auc),
            format::metric(metrics.all.uauc),
            format::metric(metrics.warm.auc),
            format::metric(metrics.cold.auc),
        ),
        Event::Checkpoint {
            stage,
            step,
            path,
            best,
        } => {
            let what = if *best {
                "best weights"
            } else {
                "resume point"
            };
            format!("{stage} step {step}: {what} saved to {path}")
        }
        Event::StageFinished { stage } => format!("stage {stage} finished"),
        Event::Resumed { stage, step } => format!("{stage} resumed after step {step}"),
        Event::Log { message } => message.clone(),
        Event::Finished => "run finished".into(),
        Event::Failed { error } => format!("run failed: {error}"),
        Event::Cancelled => "run cancelled".into(),
    }
}
