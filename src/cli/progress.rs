//! `collm run`'s progress display on stderr, drawn from the runner's events: a bar over the
//! stage's steps with the latest loss and evaluation; without a terminal, plain lines for the
//! log messages and new best evaluations (at most one every few seconds) instead.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use collm_events::Event;
use collm_store::FINAL_STAGE;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::number;

pub struct Progress {
    bar: ProgressBar,
    /// Best all-rows AUC per (stage, split).
    best: HashMap<(String, String), f64>,
    loss: Option<f64>,
    eval: String,
    /// When a new-best line was last printed without a terminal (they are rate-limited: a
    /// slowly improving run would otherwise print one per epoch).
    last_best_line: Option<Instant>,
}

/// Without a terminal, at most one new-best line per this interval.
const BEST_LINE_EVERY: Duration = Duration::from_secs(5);

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
        }
    }

    pub fn event(&mut self, event: &Event) {
        match event {
            Event::StageStarted { stage, total_steps } => {
                self.bar.set_length(total_steps.unwrap_or(0));
                self.bar.set_position(0);
                self.line(format!("stage {stage} started"));
            }
            Event::Step { step, loss, .. } => {
                self.bar.set_position(*step);
                self.loss = Some(*loss);
                self.refresh();
            }
            Event::Eval {
                stage,
                step,
                split,
                metrics,
            } => {
                let auc = metrics.all.auc;
                if stage == FINAL_STAGE {
                    self.line(format!(
                        "final {split}: auc {} (warm {}, cold {}), uauc {}",
                        number(auc),
                        number(metrics.warm.auc),
                        number(metrics.cold.auc),
                        number(metrics.all.uauc)
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
                    if self.bar.is_hidden() && due {
                        self.last_best_line = Some(Instant::now());
                        self.line(format!(
                            "{stage} step {step}: {split} auc {} (new best)",
                            number(auc)
                        ));
                    }
                }
                self.eval = format!(
                    "{split} auc {} (best {})",
                    number(auc),
                    number(self.best.get(&key).copied())
                );
                self.refresh();
            }
            Event::Log { message } => self.line(message.clone()),
            Event::Failed { error } => self.line(format!("failed: {error}")),
            Event::Cancelled => self.line("cancelled".to_string()),
            Event::Checkpoint { .. } | Event::StageFinished { .. } | Event::Finished => {}
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
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}
