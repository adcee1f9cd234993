//! The learning-rate schedule: linear warmup, then cosine decay to `min_lr` (the reference's
//! `linear_warmup_cosine_lr`, spec §4).
//!
//! The reference computes its warmup from the step *within* a 50-step pseudo-epoch, so the
//! warmup is a saw-tooth (four ramps to a quarter of the peak, then a jump into the cosine).
//! That is a bug; by default the warmup here is linear over global steps (`Warmup::Linear`).
//! `Warmup::Reference` reproduces the saw-tooth for faithful comparisons. In both, the cosine
//! is the reference's formula: it uses the global step over the whole horizon,
//! `min + (peak - min)·½·(1 + cos(π·t / total))`, so right after warmup it starts slightly below
//! the peak rather than restarting from it. The horizon is a stage's `cosine_steps`, by default
//! its step budget (the reference's is its `max_epoch·iters_per_epoch`, see the stage config).

/// How the warmup counts steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// Linear from `warmup_lr` to `lr` over the first `warmup_steps` global steps.
    #[default]
    Linear,
    /// The reference's saw-tooth: the ramp restarts every `iters_per_epoch` steps.
    Reference,
}

/// Schedule parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_lr: f64,
    pub warmup_steps: u64,
    pub warmup: Warmup,
    /// Steps per pseudo-epoch (only the reference warmup uses it).
    pub iters_per_epoch: u64,
    /// The cosine horizon in steps.
    pub total_steps: u64,
}

impl Schedule {
    /// The learning rate of global step `t` (0-based).
    pub fn lr_at(&self, t: u64) -> f64 {
        if t < self.warmup_steps {
            let i = match self.warmup {
                Warmup::Linear => t,
                Warmup::Reference => t % self.iters_per_epoch.max(1),
            };
            return self.warmup_lr
                + (self.lr - self.warmup_lr) * i as f64 / self.warmup_steps as f64;
        }
        let progress = t as f64 / self.total_steps.max(1) as f64;
        self.min_lr
            + (self.lr - self.min_lr)
                * 0.5
                * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_like(warmup: Warmup) -> Schedule {
        Schedule {
            lr: 1e-3,
            min_lr: 8e-5,
            warmup_lr: 1e-5,
            warmup_steps: 200,
            warmup,
            iters_per_epoch: 50,
            total_steps: 10_000,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn linear_warmup_values() {
        let s = reference_like(Warmup::Linear);
        close(s.lr_at(0), 1e-5);
        close(s.lr_at(100), 1e-5 + 0.5 * (1e-3 - 1e-5)); // 5.05e-4
        close(s.lr_at(199), 1e-5 + 199.0 / 200.0 * (1e-3 - 1e-5));
    }

    #[test]
    fn reference_warmup_is_a_saw_tooth() {
        let s = reference_like(Warmup::Reference);
        close(s.lr_at(49), 1e-5 + 49.0 / 200.0 * (1e-3 - 1e-5)); // 2.5255e-4
        close(s.lr_at(50), 1e-5);
        close(s.lr_at(150), 1e-5);
        close(s.lr_at(199), 1e-5 + 49.0 / 200.0 * (1e-3 - 1e-5));
    }

    #[test]
    fn cosine_values() {
        let s = reference_like(Warmup::Linear);
        // t = 200: cos(π·0.02) = 0.998026728..., lr = 8e-5 + 9.2e-4·0.999013364
        close(
            s.lr_at(200),
            8e-5 + 9.2e-4 * 0.5 * (1.0 + (std::f64::consts::PI * 0.02).cos()),
        );
        close(s.lr_at(5_000), 8e-5 + 9.2e-4 * 0.5); // 5.4e-4
        close(s.lr_at(10_000), 8e-5);
        close(s.lr_at(20_000), 8e-5); // past the horizon it stays at the floor
        assert!((s.lr_at(200) - 9.9909e-4).abs() < 1e-8);
    }
}
