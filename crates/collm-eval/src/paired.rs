//! Is one run's AUC / UAUC really above another's? A paired bootstrap over users of the two
//! runs' scores of the same rows, giving the observed difference, a 95% interval and a p-value.
//!
//! Why users, not rows: a user's rows share the user's history and taste, so they are not
//! independent draws; resampling whole users keeps that dependence (a cluster bootstrap) and is
//! the only unit UAUC can be resampled by. Why paired: both runs scored the same rows, so one
//! resample of users is applied to both and the run-to-run difference is measured on it, which
//! removes the (large) variance that comes from which users happen to be in the split.
//!
//! Why several runs a side: one run of a setting says little when the training seed alone
//! moves AUC by more than most gaps between settings. Given the same setting run with seeds
//! `s1..sk` on each side, the difference is the mean over seeds of the paired differences, and
//! each resample draws seeds with replacement as well as users (the same seeds on both sides:
//! the i-th runs are paired), so the interval holds the seeds' disagreement too.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::auc::{score_order, weighted_auc};
use crate::{auc, ScoredRow};

/// Fewest users a difference may rest on for its interval and p-value to mean anything. A
/// resample of users can only come out a few ways when they are few (1 way for 1 user, 10 for
/// 3, 126 for 5): one user's difference would come back as the same value in every resample,
/// an interval of zero width and p<0.001, which is certainty about nothing.
pub const MIN_USERS: usize = 5;

/// The difference `other - base` of one metric, with its bootstrap spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// On the rows as they are.
    pub observed: f64,
    /// The 2.5% and 97.5% percentiles of the resampled differences (a 95% interval). NaN (null
    /// in JSON) when the difference rests on fewer than [`MIN_USERS`] users.
    pub low: f64,
    pub high: f64,
    /// Two-sided: twice the share of resampled differences on the far side of zero from the
    /// observed one (at most 1). Resolution is 1 / resamples; 0 means "below that". NaN as
    /// `low` and `high` are.
    pub p_value: f64,
    /// Resamples in which the metric was defined for both runs (the others hold one class only);
    /// 0 when nothing was resampled (too few users).
    pub resamples: usize,
    /// Users the metric rests on in this group: those with rows in it for AUC, those UAUC
    /// counts (rows of both labels) for UAUC.
    #[serde(default)]
    pub users: usize,
}

/// AUC and UAUC differences on one group of rows; `None` where the metric is undefined on it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupDifference {
    pub auc: Option<Difference>,
    pub uauc: Option<Difference>,
}

/// The differences on all, warm and cold rows, from one shared set of user resamples.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PairedBootstrap {
    pub all: GroupDifference,
    pub warm: GroupDifference,
    pub cold: GroupDifference,
    /// Users in the rows (the unit resampled).
    pub users: usize,
    /// Runs on each side, paired in order (1: one run against one; more: seeds, resampled).
    #[serde(default = "one")]
    pub runs: usize,
    pub resamples: usize,
    pub seed: u64,
}

fn one() -> usize {
    1
}

impl PairedBootstrap {
    /// The groups by name, in the order tables show them.
    pub fn groups(&self) -> [(&'static str, &GroupDifference); 3] {
        [
            ("all", &self.all),
            ("warm", &self.warm),
            ("cold", &self.cold),
        ]
    }
}

/// Why two runs' scores cannot be paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingError {
    Length {
        base: usize,
        other: usize,
    },
    /// The two sides hold different numbers of runs (they are paired in order).
    Runs {
        base: usize,
        other: usize,
    },
    /// Row `row` (0-based) is not the same row in the two runs (user, label or warm flag; the
    /// item too where the caller knows it).
    Mismatch {
        row: usize,
    },
    NotFinite {
        row: usize,
    },
}

impl std::fmt::Display for PairingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Length { base, other } => write!(
                f,
                "the runs scored different rows: {base} rows against {other}"
            ),
            Self::Runs { base, other } => write!(
                f,
                "cannot pair them: one side holds {base} run{}, the other {other}; seeds pair \
                 the i-th run with the i-th, so both need one run per seed",
                if *base == 1 { "" } else { "s" }
            ),
            Self::Mismatch { row } => write!(
                f,
                "the runs scored different rows: row {} differs (user, item, label or warm flag)",
                row + 1
            ),
            Self::NotFinite { row } => {
                write!(f, "row {} has a score that is not a number", row + 1)
            }
        }
    }
}

impl std::error::Error for PairingError {}

/// Compares `other` against `base` (the same rows in the same order, each scored by one run)
/// with `resamples` user resamples drawn from `seed`.
pub fn paired_bootstrap(
    base: &[ScoredRow],
    other: &[ScoredRow],
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap, PairingError> {
    paired_bootstrap_over_runs(&[base], &[other], resamples, seed)
}

/// Compares the runs of `other` against those of `base`, the i-th with the i-th (the same
/// setting with seed i on each side), every run scoring the same rows in the same order. The
/// difference is the mean of the pairs' differences; each resample draws users and, with more
/// than one pair, pairs too (with replacement). With one pair this is [`paired_bootstrap`].
pub fn paired_bootstrap_over_runs(
    base: &[&[ScoredRow]],
    other: &[&[ScoredRow]],
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap, PairingError> {
    if base.len() != other.len() || base.is_empty() {
        return Err(PairingError::Runs {
            base: base.len(),
            other: other.len(),
        });
    }
    let rows = base[0];
    for run in base.iter().chain(other) {
        check_same_rows(rows, run)?;
    }
    // Users as dense indices, in uid order so the draws do not depend on row order.
    let mut user_index: BTreeMap<u32, usize> = rows.iter().map(|r| (r.uid, 0)).collect();
    for (i, index) in user_index.values_mut().enumerate() {
        *index = i;
    }
    let user_of: Vec<usize> = rows.iter().map(|r| user_index[&r.uid]).collect();
    let users = user_index.len();

    let pairs: Vec<[Group; 3]> = base
        .iter()
        .zip(other)
        .map(|(b, o)| {
            [
                Group::new(b, o, &user_of, users, |_| true),
                Group::new(b, o, &user_of, users, |r| r.warm),
                Group::new(b, o, &user_of, users, |r| !r.warm),
            ]
        })
        .collect();
    let k = pairs.len();
    // The mean over pairs, each counted `times[p]` times, of one group's deltas; `None` for a
    // metric undefined in any pair counted.
    let mean_deltas = |g: usize, multiplicity: &[f64], times: &[usize]| -> [Option<f64>; 2] {
        let mut sums = [Some(0.0); 2];
        for (pair, &n) in pairs.iter().zip(times).filter(|(_, &n)| n > 0) {
            let deltas = pair[g].deltas(multiplicity);
            for (sum, delta) in sums.iter_mut().zip(deltas) {
                *sum = sum.zip(delta).map(|(s, d)| s + n as f64 * d);
            }
        }
        sums.map(|s| s.map(|s| s / k as f64))
    };
    let mut samples: [[Vec<f64>; 2]; 3] = Default::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut multiplicity = vec![0.0f64; users];
    let mut times = vec![1usize; k];
    for _ in 0..resamples {
        multiplicity.iter_mut().for_each(|m| *m = 0.0);
        for _ in 0..users {
            multiplicity[rng.gen_range(0..users)] += 1.0;
        }
        // One pair is always itself: drawing it would only move the generator.
        if k > 1 {
            times.iter_mut().for_each(|t| *t = 0);
            for _ in 0..k {
                times[rng.gen_range(0..k)] += 1;
            }
        }
        for (g, out) in samples.iter_mut().enumerate() {
            let [auc_delta, uauc_delta] = mean_deltas(g, &multiplicity, &times);
            out[0].extend(auc_delta);
            out[1].extend(uauc_delta);
        }
    }
    let [all, warm, cold] = std::array::from_fn(|g| {
        let observed = mean_deltas(g, &vec![1.0; users], &vec![1; k]);
        // Every pair holds the same rows: the first one's users are every pair's.
        let [auc_users, uauc_users] = pairs[0][g].users();
        GroupDifference {
            auc: observed[0].map(|d| Difference::of(d, &mut samples[g][0], auc_users)),
            uauc: observed[1].map(|d| Difference::of(d, &mut samples[g][1], uauc_users)),
        }
    });
    Ok(PairedBootstrap {
        all,
        warm,
        cold,
        users,
        runs: k,
        resamples,
        seed,
    })
}

/// `run` scores the rows of `rows` (user, label, warm flag; the item is the caller's to check),
/// every score a number.
fn check_same_rows(rows: &[ScoredRow], run: &[ScoredRow]) -> Result<(), PairingError> {
    if rows.len() != run.len() {
        return Err(PairingError::Length {
            base: rows.len(),
            other: run.len(),
        });
    }
    for (row, (a, b)) in rows.iter().zip(run).enumerate() {
        if (a.uid, a.label != 0, a.warm) != (b.uid, b.label != 0, b.warm) {
            return Err(PairingError::Mismatch { row });
        }
        if !a.logit.is_finite() || !b.logit.is_finite() {
            return Err(PairingError::NotFinite { row });
        }
    }
    Ok(())
}

impl Difference {
    /// Whether the interval and p-value were computed: the difference rests on enough users.
    pub fn is_resampled(&self) -> bool {
        self.users >= MIN_USERS
    }

    fn of(observed: f64, samples: &mut [f64], users: usize) -> Self {
        if users < MIN_USERS {
            return Self {
                observed,
                low: f64::NAN,
                high: f64::NAN,
                p_value: f64::NAN,
                resamples: 0,
                users,
            };
        }
        samples.sort_unstable_by(f64::total_cmp);
        let n = samples.len();
        let quantile = |q: f64| -> f64 {
            if n == 0 {
                return f64::NAN;
            }
            // Linear interpolation between closest ranks (numpy's default percentile).
            let pos = q * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            samples[lo] + (samples[hi] - samples[lo]) * (pos - lo as f64)
        };
        let far_side = if observed >= 0.0 {
            samples.iter().filter(|&&d| d <= 0.0).count()
        } else {
            samples.iter().filter(|&&d| d >= 0.0).count()
        };
        let p_value = if n == 0 || observed == 0.0 {
            1.0
        } else {
            (2.0 * far_side as f64 / n as f64).min(1.0)
        };
        Self {
            observed,
            low: quantile(0.025),
            high: quantile(0.975),
            p_value,
            resamples: n,
            users,
        }
    }
}

/// One group's rows (all, warm or cold) prepared once so that each resample is a single pass.
struct Group {
    labels: Vec<u8>,
    user_of: Vec<usize>,
    /// Per run (base, other): scores and their ascending order.
    runs: [(Vec<f32>, Vec<usize>); 2],
    /// Per run: each counted user's AUC (users with >= 2 rows of both classes in the group).
    user_aucs: [Vec<(usize, f64)>; 2],
}

impl Group {
    fn new(
        base: &[ScoredRow],
        other: &[ScoredRow],
        user_of: &[usize],
        users: usize,
        keep: impl Fn(&ScoredRow) -> bool,
    ) -> Self {
        let rows: Vec<usize> = (0..base.len()).filter(|&i| keep(&base[i])).collect();
        let labels: Vec<u8> = rows.iter().map(|&i| base[i].label).collect();
        let group_user_of: Vec<usize> = rows.iter().map(|&i| user_of[i]).collect();
        let run = |scored: &[ScoredRow]| {
            let scores: Vec<f32> = rows.iter().map(|&i| scored[i].logit).collect();
            let order = score_order(&scores);
            (scores, order)
        };
        let runs = [run(base), run(other)];
        let user_aucs = std::array::from_fn(|r| {
            let mut per_user: Vec<(Vec<u8>, Vec<f32>)> = vec![Default::default(); users];
            for (k, &u) in group_user_of.iter().enumerate() {
                per_user[u].0.push(labels[k]);
                per_user[u].1.push(runs[r].0[k]);
            }
            per_user
                .iter()
                .enumerate()
                .filter_map(|(u, (l, s))| auc(l, s).map(|a| (u, a)))
                .collect()
        });
        Self {
            labels,
            user_of: group_user_of,
            runs,
            user_aucs,
        }
    }

    /// The users AUC rests on (any row in the group) and those UAUC counts.
    fn users(&self) -> [usize; 2] {
        let mut with_rows = self.user_of.clone();
        with_rows.sort_unstable();
        with_rows.dedup();
        [with_rows.len(), self.user_aucs[0].len()]
    }

    /// `other - base` of AUC and UAUC with user `u` counted `multiplicity[u]` times; `None`
    /// where either run's metric is undefined on this resample.
    fn deltas(&self, multiplicity: &[f64]) -> [Option<f64>; 2] {
        let weight = |k: usize| multiplicity[self.user_of[k]];
        let aucs = self
            .runs
            .each_ref()
            .map(|(scores, order)| weighted_auc(&self.labels, scores, order, weight));
        let uaucs = self.user_aucs.each_ref().map(|counted| {
            let (sum, n) = counted.iter().fold((0.0, 0.0), |(s, n), &(u, a)| {
                (s + multiplicity[u] * a, n + multiplicity[u])
            });
            sum / n
        });
        let delta = |[b, o]: [f64; 2]| (b.is_finite() && o.is_finite()).then_some(o - b);
        [delta(aucs), delta(uaucs)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate;
    use crate::tests::row;

    /// Three users; user 2's rows are all cold, user 0's all warm, user 1 has both.
    fn base_rows() -> Vec<ScoredRow> {
        vec![
            row(0, 1, 0.9, true),
            row(0, 0, 0.3, true),
            row(0, 1, 0.2, true),
            row(1, 0, 0.5, true),
            row(1, 1, 0.4, false),
            row(1, 0, 0.1, false),
            row(2, 1, 0.6, false),
            row(2, 0, 0.7, false),
            row(2, 0, 0.6, false),
        ]
    }

    fn rescored(rows: &[ScoredRow], logits: [f32; 9]) -> Vec<ScoredRow> {
        rows.iter()
            .zip(logits)
            .map(|(r, logit)| ScoredRow { logit, ..*r })
            .collect()
    }

    #[test]
    fn a_resample_scores_like_the_rows_written_out_that_many_times() {
        let base = base_rows();
        let other = rescored(&base, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
        let user_of: Vec<usize> = base.iter().map(|r| r.uid as usize).collect();
        // User 0 drawn twice, user 1 never, user 2 once.
        let multiplicity = [2.0, 0.0, 1.0];
        let spelled = |rows: &[ScoredRow]| -> Vec<ScoredRow> {
            [0, 0, 2]
                .iter()
                .enumerate()
                // Each copy of a user is a separate user for UAUC, as the bootstrap intends.
                .flat_map(|(copy, &u)| {
                    rows.iter()
                        .filter(move |r| r.uid == u)
                        .map(move |r| ScoredRow {
                            uid: copy as u32,
                            ..*r
                        })
                })
                .collect()
        };
        let (b, o) = (evaluate(&spelled(&base)), evaluate(&spelled(&other)));
        let groups = [
            Group::new(&base, &other, &user_of, 3, |_| true),
            Group::new(&base, &other, &user_of, 3, |r| r.warm),
            Group::new(&base, &other, &user_of, 3, |r| !r.warm),
        ];
        for (group, (bm, om)) in
            groups
                .iter()
                .zip([(&b.all, &o.all), (&b.warm, &o.warm), (&b.cold, &o.cold)])
        {
            let [auc, uauc] = group.deltas(&multiplicity);
            let expect = |x: Option<f64>, y: Option<f64>| x.zip(y).map(|(x, y)| y - x);
            assert_eq!(auc, expect(bm.auc, om.auc));
            let (u, e) = (uauc, expect(bm.uauc, om.uauc));
            assert_eq!(u.is_some(), e.is_some());
            if let (Some(u), Some(e)) = (u, e) {
                assert!((u - e).abs() < 1e-12, "{u} vs {e}");
            }
        }
    }

    #[test]
    fn observed_differences_are_the_metrics_differences() {
        let base = base_rows();
        let other = rescored(&base, [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5]);
        let result = paired_bootstrap(&base, &other, 50, 7).unwrap();
        let (b, o) = (evaluate(&base), evaluate(&other));
        for (diff, bm, om) in [
            (&result.all, &b.all, &o.all),
            (&result.warm, &b.warm, &o.warm),
            (&result.cold, &b.cold, &o.cold),
        ] {
            let auc = diff.auc.as_ref().map(|d| d.observed);
            assert_eq!(auc, bm.auc.zip(om.auc).map(|(x, y)| y - x));
            let uauc = diff.uauc.as_ref().map(|d| d.observed);
            let want = bm.uauc.zip(om.uauc).map(|(x, y)| y - x);
            assert_eq!(uauc.is_some(), want.is_some());
            if let (Some(u), Some(w)) = (uauc, want) {
                assert!((u - w).abs() < 1e-12);
            }
        }
        assert_eq!(result.users, 3);
        // Warm rows: user 0 (3 rows) and user 1's single warm row. Base AUC by hand:
        // positives 0.9, 0.2 against negatives 0.3, 0.5: 0.9 wins both, 0.2 loses both = 2/4.
        assert_eq!(b.warm.auc, Some(0.5));
    }

    #[test]
    fn a_run_against_itself_differs_by_nothing() {
        // 20 users: enough to resample (the three of `base_rows` are not).
        let base = ranked(1.0);
        let result = paired_bootstrap(&base, &base, 200, 1).unwrap();
        let d = result.all.auc.unwrap();
        assert_eq!((d.observed, d.low, d.high, d.p_value), (0.0, 0.0, 0.0, 1.0));
        assert_eq!(d.users, 20);
    }

    /// A difference resting on fewer than `MIN_USERS` users gets no interval and no p-value:
    /// with one user every resample repeats the observed difference, which read as p<0.001.
    #[test]
    fn too_few_users_get_no_interval_and_no_p_value() {
        // `base_rows`: warm rows of users 0 and 1, cold rows of users 1 and 2; UAUC counts
        // user 0 alone on warm rows (user 1 has one warm row).
        let base = base_rows();
        let other = rescored(&base, [0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.5, 0.4]);
        let b = paired_bootstrap(&base, &other, 300, 3).unwrap();
        let warm_uauc = b.warm.uauc.clone().unwrap();
        assert_eq!(warm_uauc.users, 1);
        assert!(!warm_uauc.is_resampled());
        assert!(warm_uauc.observed != 0.0, "{warm_uauc:?}");
        assert!(warm_uauc.low.is_nan() && warm_uauc.high.is_nan() && warm_uauc.p_value.is_nan());
        assert_eq!(b.all.auc.as_ref().unwrap().users, 3);
        // In JSON the missing interval is null, not a number a script could read as one.
        let json = serde_json::to_value(&warm_uauc).unwrap();
        assert!(json["low"].is_null() && json["p_value"].is_null(), "{json}");
        assert_eq!(json["resamples"], 0);

        // Five users are enough.
        let five: Vec<ScoredRow> = ranked(1.0).into_iter().take(20).collect();
        let flipped: Vec<ScoredRow> = ranked(-1.0).into_iter().take(20).collect();
        let d = paired_bootstrap(&flipped, &five, 300, 3)
            .unwrap()
            .all
            .auc
            .unwrap();
        assert_eq!(d.users, MIN_USERS);
        assert!(
            d.is_resampled() && d.low <= d.observed && d.p_value < 0.05,
            "{d:?}"
        );
    }

    #[test]
    fn a_clearly_better_run_is_significant_and_a_noisy_one_is_not() {
        // 60 users x 6 rows, labels alternating; the base ranks at random (seeded), "perfect"
        // puts every positive above every negative, "jittered" is the base plus tiny noise.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let base: Vec<ScoredRow> = (0..360)
            .map(|i| row(i / 6, (i % 2) as u8, rng.gen::<f32>(), i % 3 == 0))
            .collect();
        let perfect: Vec<ScoredRow> = base
            .iter()
            .map(|r| ScoredRow {
                logit: r.label as f32 + 0.5 * r.logit,
                ..*r
            })
            .collect();
        let jittered: Vec<ScoredRow> = base
            .iter()
            .map(|r| ScoredRow {
                logit: r.logit + 0.02 * (rng.gen::<f32>() - 0.5),
                ..*r
            })
            .collect();
        let better = paired_bootstrap(&base, &perfect, 500, 9).unwrap();
        let d = better.all.auc.unwrap();
        assert_eq!(d.observed + evaluate(&base).all.auc.unwrap(), 1.0);
        assert!(d.low > 0.3 && d.p_value == 0.0, "{d:?}");
        let noisy = paired_bootstrap(&base, &jittered, 500, 9).unwrap();
        let d = noisy.all.uauc.clone().unwrap();
        assert!(d.low < 0.0 && d.high > 0.0 && d.p_value > 0.05, "{d:?}");
        assert!(d.low <= d.observed && d.observed <= d.high);
        // The same seed repeats; another seed draws other users.
        assert_eq!(noisy, paired_bootstrap(&base, &jittered, 500, 9).unwrap());
        assert_ne!(noisy, paired_bootstrap(&base, &jittered, 500, 10).unwrap());
    }

    /// 20 users x 4 rows, two of each label; scored in label order (`sign` 1) or against it
    /// (`sign` -1), so every user resample has AUC 1 or 0.
    fn ranked(sign: f32) -> Vec<ScoredRow> {
        (0..80)
            .map(|i| {
                let label = (i % 2) as u8;
                row(
                    i / 4,
                    label,
                    sign * (label as f32 + 0.01 * i as f32),
                    i % 8 < 4,
                )
            })
            .collect()
    }

    #[test]
    fn seeds_that_disagree_spread_the_interval_over_their_disagreement() {
        let (right, wrong) = (ranked(1.0), ranked(-1.0));
        // Seed 1: the other run is right where the base is wrong (+1); seed 2 the reverse (-1).
        let split =
            paired_bootstrap_over_runs(&[&wrong, &right], &[&right, &wrong], 400, 5).unwrap();
        assert_eq!(split.runs, 2);
        for diff in [&split.all, &split.warm, &split.cold] {
            for d in [diff.auc.as_ref().unwrap(), diff.uauc.as_ref().unwrap()] {
                // Mean +1 and -1: 0. Resamples draw both seeds (0), or one twice (+1 or -1).
                assert_eq!(
                    (d.observed, d.low, d.high, d.p_value),
                    (0.0, -1.0, 1.0, 1.0)
                );
            }
        }
        // Both seeds agree: +1 on every resample.
        let agree =
            paired_bootstrap_over_runs(&[&wrong, &wrong], &[&right, &right], 400, 5).unwrap();
        let d = agree.all.auc.unwrap();
        assert_eq!((d.observed, d.low, d.high, d.p_value), (1.0, 1.0, 1.0, 0.0));
        // Paired in order: a side against itself differs by nothing, whatever the seeds do.
        let same =
            paired_bootstrap_over_runs(&[&wrong, &right], &[&wrong, &right], 400, 5).unwrap();
        let d = same.all.uauc.unwrap();
        assert_eq!((d.observed, d.low, d.high, d.p_value), (0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn the_difference_of_several_seeds_is_the_mean_of_theirs() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut noisy = |rows: &[ScoredRow], by: f32| -> Vec<ScoredRow> {
            rows.iter()
                .map(|r| ScoredRow {
                    logit: r.logit * by + rng.gen::<f32>(),
                    ..*r
                })
                .collect()
        };
        let right = ranked(1.0);
        let runs: Vec<Vec<ScoredRow>> = (0..6).map(|i| noisy(&right, i as f32 * 0.2)).collect();
        let (base, other) = (
            [&runs[0][..], &runs[1], &runs[2]],
            [&runs[3][..], &runs[4], &runs[5]],
        );
        let together = paired_bootstrap_over_runs(&base, &other, 50, 3).unwrap();
        let single: Vec<PairedBootstrap> = (0..3)
            .map(|i| paired_bootstrap(base[i], other[i], 50, 3).unwrap())
            .collect();
        let mean = |get: fn(&PairedBootstrap) -> f64| single.iter().map(get).sum::<f64>() / 3.0;
        let auc = together.all.auc.as_ref().unwrap().observed;
        assert!((auc - mean(|b| b.all.auc.as_ref().unwrap().observed)).abs() < 1e-12);
        let uauc = together.cold.uauc.as_ref().unwrap().observed;
        assert!((uauc - mean(|b| b.cold.uauc.as_ref().unwrap().observed)).abs() < 1e-12);
        // One pair is the one-run comparison, draw for draw.
        assert_eq!(
            paired_bootstrap_over_runs(&base[..1], &other[..1], 50, 3).unwrap(),
            single[0]
        );
    }

    #[test]
    fn sides_of_different_sizes_cannot_be_paired() {
        let rows = base_rows();
        let err = paired_bootstrap_over_runs(&[&rows, &rows], &[&rows], 10, 0).unwrap_err();
        assert_eq!(err, PairingError::Runs { base: 2, other: 1 });
        assert!(
            err.to_string()
                .contains("one side holds 2 runs, the other 1"),
            "{err}"
        );
        // Every run of a side scores the same rows as the others.
        let err =
            paired_bootstrap_over_runs(&[&rows, &rows[1..]], &[&rows, &rows], 10, 0).unwrap_err();
        assert_eq!(err, PairingError::Length { base: 9, other: 8 });
    }

    #[test]
    fn rows_that_differ_cannot_be_paired() {
        let base = base_rows();
        assert_eq!(
            paired_bootstrap(&base, &base[1..], 10, 0),
            Err(PairingError::Length { base: 9, other: 8 })
        );
        let mut other = base.clone();
        other[4].uid = 7;
        let err = paired_bootstrap(&base, &other, 10, 0).unwrap_err();
        assert_eq!(err, PairingError::Mismatch { row: 4 });
        assert!(err.to_string().contains("row 5"), "{err}");
        other = base.clone();
        other[2].logit = f32::NAN;
        assert_eq!(
            paired_bootstrap(&base, &other, 10, 0),
            Err(PairingError::NotFinite { row: 2 })
        );
    }
}
