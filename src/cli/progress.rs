//! `collm run`'s progress display on stderr, drawn from the runner's events: a bar over the
//! stage's steps with the latest loss and evaluation; without a terminal, plain lines for the
//! log messages, the final evaluations, new best evaluations (at most one every few seconds:
//! a best overtaken within them is not printed, the stage's last best always is) and, so that
//! a log of a long stage shows it is alive, a step line with the loss, speed and time left (the
//! first step of each stage, then one a minute).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use collm_events::Event;
use collm_store::FINAL_STAGE;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::duration;
use crate::text::metric;

pub struct Progress {
    bar: ProgressBar,
    /// Best all-rows AUC per (stage, split).
    best: HashMap<(String, String), f64>,
    loss: Option<f64>,
    eval: String,
    /// When a new-best line was last printed without a terminal (they are rate-limited: a
    /// slowly improving run would otherwise print one per epoch).
    last_best_line: Option<Instant>,
    /// The latest new-best line held back by the rate limit, printed when the stage ends.
    held_best: Option<String>,
    heartbeat: Heartbeat,
}

/// Without a terminal, at most one new-best line per this interval.
const BEST_LINE_EVERY: Duration = Duration::from_secs(5);
/// Without a terminal, one step line per this interval (after each stage's first step).
const STEP_LINE_EVERY: Duration = Duration::from_secs(60);

impl Progress {
    pub fn new(name: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} {spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps, eta {eta} | {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress {
            bar,
            best: HashMap::new(),
            loss: None,
            eval: String::new(),
            last_best_line: None,
            held_best: None,
            heartbeat: Heartbeat::new(STEP_LINE_EVERY),
        }
    }

    /// Takes `stage`'s best evaluations so far from the run's record (`best`, per stage and
    /// split), as its resume left them: new-best lines compare with those.
    pub fn resume_best(&mut self, stage: &str, best: &[collm_store::EvalPoint]) {
        self.best.retain(|(s, _), _| s != stage);
        for point in best.iter().filter(|p| p.stage == stage) {
            if let Some(auc) = point.metrics.all.auc {
                self.best
                    .insert((point.stage.clone(), point.split.clone()), auc);
            }
        }
    }

    pub fn event(&mut self, event: &Event) {
        match event {
            Event::StageStarted { stage, total_steps } => {
                self.print_held_best();
                self.bar.set_length(total_steps.unwrap_or(0));
                self.bar.set_position(0);
                self.heartbeat
                    .stage_started(stage, *total_steps, Instant::now());
                self.line(format!("stage {stage} started"));
            }
            Event::Step { step, loss, .. } => {
                self.bar.set_position(*step);
                self.loss = Some(*loss);
                self.refresh();
                if self.bar.is_hidden() {
                    if let Some(line) = self.heartbeat.step(*step, *loss, Instant::now()) {
                        self.line(line);
                    }
                }
            }
            Event::Eval {
                stage,
                step,
                split,
                metrics,
            } => {
                let auc = metrics.all.auc;
                // The final evaluations (`final`, and a part's: `final-stage1`), each once.
                if let Some(of) = final_label(stage) {
                    self.print_held_best();
                    self.line(format!(
                        "{of} {split}: auc {} (warm {}, cold {}), uauc {}",
                        metric(auc),
                        metric(metrics.warm.auc),
                        metric(metrics.cold.auc),
                        metric(metrics.all.uauc)
                    ));
                    return;
                }
                let key = (stage.clone(), split.clone());
                let improved = auc.is_some_and(|a| self.best.get(&key).is_none_or(|b| a > *b));
                if improved {
                    self.best.insert(key.clone(), auc.unwrap_or_default());
                    let due = self
                        .last_best_line
                        .is_none_or(|t| t.elapsed() >= BEST_LINE_EVERY);
                    if self.bar.is_hidden() {
                        self.held_best = Some(format!(
                            "{stage} step {step}: {split} auc {} (new best)",
                            metric(auc)
                        ));
                        if due {
                            self.print_held_best();
                        }
                    }
                }
                self.eval = format!(
                    "{split} auc {} (best {})",
                    metric(auc),
                    metric(self.best.get(&key).copied())
                );
                self.refresh();
            }
            // A best held back came first (a stage's "stopped after N epochs" follows it).
            Event::Log { message } => {
                self.print_held_best();
                self.line(message.clone());
            }
            Event::Cancelled => {
                self.print_held_best();
                self.line("cancelled".to_string());
            }
            // The caller names the reason once, with the run's end (`collm run`'s error line,
            // `collm sweep`'s line per run), read from the stored record.
            Event::StageFinished { .. } | Event::Failed { .. } => self.print_held_best(),
            // A resumed stage says so in the log line that follows.
            Event::Checkpoint { .. } | Event::Resumed { .. } | Event::Finished => {}
        }
    }

    /// The new-best line the rate limit held back, if any.
    fn print_held_best(&mut self) {
        if let Some(line) = self.held_best.take() {
            self.last_best_line = Some(Instant::now());
            self.line(line);
        }
    }

    /// A problem worth showing that is not an event (a store write that failed).
    pub fn warn(&self, message: &str) {
        self.line(format!("warning: {message}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn refresh(&self) {
        let loss = self
            .loss
            .map(|l| format!("loss {l:.4}"))
            .unwrap_or_default();
        let sep = if loss.is_empty() || self.eval.is_empty() {
            ""
        } else {
            ", "
        };
        self.bar.set_message(format!("{loss}{sep}{}", self.eval));
    }

    fn line(&self, text: String) {
        if self.bar.is_hidden() {
            say!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

/// The step lines printed without a terminal: the first step of a stage (how long one step
/// takes is the first thing a researcher wants from a log), then at most one per `every`.
struct Heartbeat {
    every: Duration,
    stage: String,
    total: Option<u64>,
    started: Option<Instant>,
    /// Steps done before the first one this process reported (a resumed stage starts past 0).
    steps_before: Option<u64>,
    last_line: Option<Instant>,
}

impl Heartbeat {
    fn new(every: Duration) -> Self {
        Heartbeat {
            every,
            stage: String::new(),
            total: None,
            started: None,
            steps_before: None,
            last_line: None,
        }
    }

    fn stage_started(&mut self, stage: &str, total: Option<u64>, now: Instant) {
        *self = Heartbeat {
            stage: stage.to_string(),
            total,
            started: Some(now),
            ..Heartbeat::new(self.every)
        };
    }

    /// The line for step `step` (1-based) reported at `now`, when one is due.
    fn step(&mut self, step: u64, loss: f64, now: Instant) -> Option<String> {
        let started = self.started?;
        let before = *self.steps_before.get_or_insert(step.saturating_sub(1));
        if self
            .last_line
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return None;
        }
        self.last_line = Some(now);
        let done = step.saturating_sub(before).max(1);
        let per_step = now.duration_since(started).as_secs_f64() / done as f64;
        let mut line = format!("{} step {step}", self.stage);
        if let Some(total) = self.total {
            line += &format!("/{total}");
        }
        line += &format!(": loss {loss:.4}, {}/step", duration(Some(per_step)));
        if let Some(total) = self.total.filter(|t| *t > step) {
            // The budget, not a promise: early stopping may end the stage sooner.
            line += &format!(
                ", at most {} left",
                duration(Some(per_step * (total - step) as f64))
            );
        }
        Some(line)
    }
}

/// How a final evaluation's stage label reads in a line: `final`, `final of stage1` (a part's,
/// `final-stage1`); none for a training stage (`finalize` is one).
fn final_label(stage: &str) -> Option<String> {
    if stage == FINAL_STAGE {
        return Some(FINAL_STAGE.to_string());
    }
    let part = stage.strip_prefix(FINAL_STAGE)?.strip_prefix('-')?;
    Some(format!("{FINAL_STAGE} of {part}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_evaluations_read_as_final_and_training_stages_do_not() {
        assert_eq!(final_label("final").as_deref(), Some("final"));
        assert_eq!(
            final_label("final-stage1").as_deref(),
            Some("final of stage1")
        );
        assert_eq!(
            final_label("final-my-lora").as_deref(),
            Some("final of my-lora")
        );
        for stage in ["finalize", "final_lora", "stage1", "cf"] {
            assert_eq!(final_label(stage), None, "{stage}");
        }
    }

    /// After a resume, an evaluation is a new best only against the record's best so far.
    #[test]
    fn a_resumed_stage_compares_with_its_recorded_best() {
        let breakdown = |auc: f64| collm_eval::Breakdown {
            all: collm_eval::Metrics {
                auc: Some(auc),
                ..Default::default()
            },
            ..Default::default()
        };
        let eval = |stage: &str, auc: f64| Event::Eval {
            stage: stage.into(),
            step: 28,
            split: "valid_small".into(),
            metrics: breakdown(auc),
        };
        let recorded = |stage: &str, auc: f64| collm_store::EvalPoint {
            stage: stage.into(),
            step: 4,
            split: "valid_small".into(),
            metrics: breakdown(auc),
            at_ms: 0,
        };
        let mut progress = Progress::new("x");
        let key = ("stage1".to_string(), "valid_small".to_string());
        progress.event(&eval("stage1", 0.40));
        progress.resume_best("stage1", &[recorded("stage1", 0.53), recorded("cf", 0.9)]);
        assert_eq!(progress.best.get(&key), Some(&0.53));
        assert_eq!(progress.best.len(), 1, "only the resumed stage's");
        progress.event(&eval("stage1", 0.50));
        assert_eq!(progress.best.get(&key), Some(&0.53), "0.50 is no new best");
        progress.event(&eval("stage1", 0.60));
        assert_eq!(progress.best.get(&key), Some(&0.60));
    }

    #[test]
    fn a_log_gets_each_stages_first_step_then_one_line_per_interval() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut beat = Heartbeat::new(Duration::from_secs(60));
        assert_eq!(beat.step(1, 0.7, at(0)), None, "no stage started yet");
        beat.stage_started("stage1", Some(64), at(0));
        assert_eq!(
            beat.step(1, 0.69312, at(40)).as_deref(),
            Some("stage1 step 1/64: loss 0.6931, 40.0 s/step, at most 42 min 0 s left")
        );
        assert_eq!(beat.step(2, 0.6, at(80)), None, "40 s after the last line");
        assert_eq!(
            beat.step(3, 0.5, at(120)).as_deref(),
            Some("stage1 step 3/64: loss 0.5000, 40.0 s/step, at most 40 min 40 s left")
        );
        // A resumed stage (first step 33) measures its speed from its own steps.
        beat.stage_started("stage2", Some(96), at(1000));
        assert_eq!(
            beat.step(33, 0.25, at(1009)).as_deref(),
            Some("stage2 step 33/96: loss 0.2500, 9.00 s/step, at most 9 min 27 s left")
        );
        assert_eq!(
            beat.step(96, 0.2, at(1000 + 64 * 9)).as_deref(),
            Some("stage2 step 96/96: loss 0.2000, 9.00 s/step"),
            "nothing left at the last step"
        );
        // Without a known length, no time left is given.
        beat.stage_started("cf", None, at(2000));
        assert_eq!(
            beat.step(1, 0.69, at(2000)).as_deref(),
            Some("cf step 1: loss 0.6900, 0.0 ms/step")
        );
    }
}
