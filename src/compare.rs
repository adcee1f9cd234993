//! Runs side by side on one split: which evaluation each run is judged by, the metric rows
//! (all / warm / cold x AUC, UAUC, logloss, rows, users) read against a baseline, and the paired
//! bootstrap of the runs' kept per-row scores that says whether a difference is more than noise.
//! `collm compare` prints this; the TUI's metrics view draws it.

use collm_eval::paired::{paired_bootstrap_over_runs, Difference, PairedBootstrap, PairingError};
use collm_eval::predictions::{read_predictions, Prediction};
use collm_eval::{Breakdown, Metrics, ScoredRow};
use collm_store::{EvalPoint, RunId, RunRecord, RunStatus, Store, FINAL_STAGE};

use crate::experiment::Experiment;
use crate::runner::predictions::predictions_path;

/// One metric row: its label, how to read it, and whether higher is better (`None`: a count).
#[derive(Debug)]
pub struct Measure {
    pub label: &'static str,
    pub get: fn(&Metrics) -> Option<f64>,
    pub higher_is_better: Option<bool>,
}

pub const MEASURES: [Measure; 5] = [
    Measure {
        label: "AUC",
        get: |m| m.auc,
        higher_is_better: Some(true),
    },
    Measure {
        label: "UAUC",
        get: |m| m.uauc,
        higher_is_better: Some(true),
    },
    Measure {
        label: "logloss",
        get: |m| m.logloss,
        higher_is_better: Some(false),
    },
    Measure {
        label: "rows",
        get: |m| Some(m.rows as f64),
        higher_is_better: None,
    },
    // The users UAUC averages (rows of both labels), not every user with rows: a group's
    // AUC may rest on more, and its interval with them.
    Measure {
        label: "UAUC users",
        get: |m| Some(m.users_counted as f64),
        higher_is_better: None,
    },
];

/// A group of rows by name, and where its metrics sit in a breakdown.
pub type Group = (&'static str, fn(&Breakdown) -> &Metrics);

pub const GROUPS: [Group; 3] = [
    ("all", |b| &b.all),
    ("warm", |b| &b.warm),
    ("cold", |b| &b.cold),
];

/// What is measured: a run's final model, or one part of a CoLLM run as the run's final
/// evaluation scored it: its foundation alone (`RUN:cf`) or a stage's best weights
/// (`RUN:stage1`, which in a two-stage CoLLM run is TALLRec). So a run is compared with its own
/// parts on the same rows, and the paired bootstrap says whether the CIE added anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub run: RunId,
    /// `None`: the final model.
    pub part: Option<String>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.part {
            Some(part) => write!(f, "{}:{part}", self.run),
            None => write!(f, "{}", self.run),
        }
    }
}

impl Target {
    /// The final model of `run`.
    pub fn whole(run: RunId) -> Self {
        Target { run, part: None }
    }

    /// Reads `RUN[:PART]`: the run resolved in `store` (a prefix that names one run will do),
    /// the part checked against the run's experiment. The last stage is the final model, so
    /// naming it names the run.
    pub fn resolve(store: &Store, text: &str) -> anyhow::Result<(Target, RunRecord)> {
        let (run, part) = match text.split_once(':') {
            Some((run, part)) => (run, Some(part)),
            None => (text, None),
        };
        let record = store.run(&store.resolve(run)?)?;
        let Some(part) = part else {
            return Ok((Target::whole(record.id.clone()), record));
        };
        let parts = parts_of(Experiment::of_run(&record).ok().as_ref());
        let Some(index) = parts.iter().position(|p| p == part) else {
            anyhow::bail!(
                "run {} ({}) has no part `{part}`; {}",
                record.id,
                record.name,
                if parts.is_empty() {
                    "only a CoLLM run has parts".to_string()
                } else {
                    format!("its parts are {}", parts.join(", "))
                }
            );
        };
        let part = (index + 1 < parts.len()).then(|| part.to_string());
        Ok((
            Target {
                run: record.id.clone(),
                part,
            },
            record,
        ))
    }

    /// The stage under which the run recorded this target's final evaluations.
    pub fn eval_stage(&self) -> String {
        match &self.part {
            Some(part) => format!("{FINAL_STAGE}-{part}"),
            None => FINAL_STAGE.to_string(),
        }
    }

    /// The evaluation this target is judged by on `split` (see [`RunRecord::result_on`]).
    pub fn result_on<'r>(&self, record: &'r RunRecord, split: &str) -> Option<&'r EvalPoint> {
        match &self.part {
            None => record.result_on(split),
            Some(_) => record.evaluation(&self.eval_stage(), split),
        }
    }
}

/// The parts of a run before its final model (`RUN:cf`, `RUN:stage1`, ...), in order; none for
/// a run that is not a CoLLM run.
pub fn earlier_parts(record: &RunRecord) -> Vec<Target> {
    let experiment = Experiment::of_run(record).ok();
    earlier_part_names(experiment.as_ref())
        .into_iter()
        .map(|part| Target {
            run: record.id.clone(),
            part: Some(part),
        })
        .collect()
}

/// The names of [`earlier_parts`] (`cf`, `stage1`, ...), of a run's experiment already read
/// (none: it no longer parses).
pub fn earlier_part_names(experiment: Option<&crate::experiment::Experiment>) -> Vec<String> {
    let mut parts = parts_of(experiment);
    parts.pop();
    parts
}

/// A CoLLM run's parts, in order: `cf` when a foundation fills the ID slots, then its stages
/// (the last being the final model). None for other runs.
pub fn parts_of(experiment: Option<&crate::experiment::Experiment>) -> Vec<String> {
    let Some(cfg) = experiment.and_then(|e| e.collm.as_ref()) else {
        return Vec::new();
    };
    let foundation = (cfg.slots.kind == collm_pipeline::SlotFill::Cie)
        .then(|| crate::experiment::FOUNDATION.to_string());
    foundation.into_iter().chain(cfg.stage_names()).collect()
}

/// Where an evaluation came from, as a column header shows it: `final` (the best weights'
/// final evaluation), `final-stage1` (a part's), `stage1 step 80` (the best seen during
/// training), or `no result`.
pub fn source(eval: Option<&EvalPoint>) -> String {
    match eval {
        Some(e) if e.stage.starts_with(FINAL_STAGE) => e.stage.clone(),
        Some(e) => format!("{} step {}", e.stage, e.step),
        None => "no result".to_string(),
    }
}

/// A target's kept final predictions of `split`, or why there are none.
pub fn kept_predictions(
    store: &Store,
    target: &Target,
    split: &str,
) -> Result<Vec<Prediction>, String> {
    let path = predictions_path(&store.run_dir(&target.run), split, target.part.as_deref());
    let record = store.run(&target.run).ok();
    let finished = record.as_ref().filter(|r| r.status == RunStatus::Finished);
    if let Some(dir) = finished.and_then(|r| store.folder_gone(r)) {
        return Err(format!(
            "run {target}'s folder {} is gone (moved or deleted outside collm): its weights and \
             per-row scores with it; its record keeps only its numbers",
            dir.display()
        ));
    }
    if !path.is_file() {
        let status = record.map(|r| r.status);
        if let Some(status) = status.filter(|s| *s != RunStatus::Finished) {
            let resume = match status {
                RunStatus::Queued | RunStatus::Running => String::new(),
                _ => format!("; `collm resume {}` finishes it", target.run),
            };
            return Err(format!(
                "run {target} is {status}: it keeps per-row scores of `{split}` once it \
                 finishes{resume}"
            ));
        }
        return Err(format!(
            "run {target} keeps no per-row scores of `{split}` (it finished before runs kept \
             them, or never scored `{split}` whole); `collm eval {target} --split {split} \
             --predictions` makes them for a split of its dataset, `--data FILE --predictions` \
             for a file"
        ));
    }
    read_predictions(&path).map_err(|e| e.to_string())
}

/// Each of `others` against `base` on their kept scores of `split` (user resamples drawn from
/// `seed`), or why it cannot be measured. A column is one target, or the same setting's runs
/// over seeds, paired with the baseline's run by run, in order (see
/// [`collm_eval::paired::paired_bootstrap_over_runs`]). The baseline's scores are read once;
/// without them every column gets that reason.
pub fn significance(
    store: &Store,
    split: &str,
    base: &[Target],
    others: &[Vec<Target>],
    resamples: usize,
    seed: u64,
) -> Vec<Result<PairedBootstrap, String>> {
    let read = |column: &[Target]| -> Result<Vec<Vec<Prediction>>, String> {
        column
            .iter()
            .map(|t| kept_predictions(store, t, split))
            .collect()
    };
    let base_rows = read(base);
    others
        .iter()
        .map(|other| {
            let base_rows = base_rows.as_ref().map_err(Clone::clone)?;
            let other_rows = read(other)?;
            paired(base_rows, &other_rows, resamples, seed).map_err(|e| {
                format!(
                    "{} and {} on `{split}`: {e}",
                    column_label(base),
                    column_label(other)
                )
            })
        })
        .collect()
}

/// A target's metrics on `split` and where they come from (see [`source`]): its final evaluation's;
/// else those of the per-row scores `kept` gives for it (the final weights on a split `collm eval
/// --predictions` scored, which the record does not hold), from `kept scores`; else, for a whole
/// run without either (it has not finished, or never scored the split whole), the best evaluation
/// of the stage it is in (a part without either has none). A stage's evaluation of a split comes
/// last: it scores a sample its seed drew, with weights of that moment, so a finished run's kept
/// scores of the same split outrank it, and the table agrees with the paired test, which reads the
/// kept scores.
pub fn measured(
    target: &Target,
    record: &RunRecord,
    split: &str,
    kept: impl FnOnce(&Target) -> Option<Breakdown>,
) -> Option<(Breakdown, String)> {
    let from = |eval: &EvalPoint| (eval.metrics.clone(), source(Some(eval)));
    if let Some(eval) = record.evaluation(&target.eval_stage(), split) {
        return Some(from(eval));
    }
    if let Some(metrics) = kept(target) {
        return Some((metrics, KEPT_SOURCE.to_string()));
    }
    target.result_on(record, split).map(from)
}

/// The part of `from` (a column's source: its members' [`measured`] sources joined by ` / `)
/// that names a stage's evaluation during training rather than the final weights' scores:
/// `stage2 step 8`.
pub fn training_source(from: &str) -> Option<&str> {
    from.split(" / ")
        .find(|f| *f != KEPT_SOURCE && !f.starts_with(FINAL_STAGE) && *f != source(None))
}

/// Where metrics read from a target's kept per-row scores come from, as a column shows it.
pub const KEPT_SOURCE: &str = "kept scores";

/// The metrics of a target's kept per-row scores of `split`; none when it keeps none.
pub fn kept_metrics(store: &Store, target: &Target, split: &str) -> Option<Breakdown> {
    let kept = kept_predictions(store, target, split).ok()?;
    let rows: Vec<ScoredRow> = kept.iter().map(Prediction::scored).collect();
    Some(collm_eval::evaluate(&rows))
}

/// A column's metrics on `split`: the mean of its members' ([`measured`], `kept` reading the
/// kept scores of a member with no evaluation); none when a member has none. The runs of a
/// column must have scored the same number of rows: a mean over different rows (another split
/// sample, a stage's smaller evaluation) would be no one's, and is refused with why.
pub fn column_metrics<'r>(
    members: impl IntoIterator<Item = (&'r Target, &'r RunRecord)>,
    split: &str,
    kept: impl Fn(&Target) -> Option<Breakdown>,
) -> Result<Option<Breakdown>, String> {
    let members: Vec<(&Target, &RunRecord)> = members.into_iter().collect();
    let each: Option<Vec<Breakdown>> = members
        .iter()
        .map(|(target, record)| measured(target, record, split, &kept).map(|(m, _)| m))
        .collect();
    let Some(each) = each else { return Ok(None) };
    if let Some((i, other)) = each
        .iter()
        .enumerate()
        .find(|(_, b)| b.all.rows != each[0].all.rows)
    {
        let targets: Vec<Target> = members.iter().map(|(t, _)| (*t).clone()).collect();
        return Err(format!(
            "column `{}`: its runs scored different numbers of rows of `{split}` ({} scored {} \
             rows, {} {}): a column is one setting over seeds, on the same rows",
            column_label(&targets),
            targets[0],
            each[0].all.rows,
            targets[i],
            other.all.rows
        ));
    }
    Ok(Some(Breakdown::mean(&each.iter().collect::<Vec<_>>())))
}

/// Each column's targets with its difference from the baseline, or why there is none.
pub type ColumnDifferences = Vec<(Vec<Target>, Result<PairedBootstrap, String>)>;

/// A column's header: `261129-011202`, or `261204-232639+2` for a column of three runs.
pub fn column_header(column: &[Target]) -> String {
    match column {
        [] => String::new(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first}+{}", rest.len()),
    }
}

/// A column's name from its runs' names: the name of one run; for several, the words their
/// names start with (a sweep's `collm-mf-ml1m seed=1`, `... seed=2` give `collm-mf-ml1m`), the
/// part they show, and how many runs it averages.
pub fn column_name(names: &[&str], part: Option<&str>) -> String {
    let part = part.map(|p| format!(" ({p})")).unwrap_or_default();
    let [first, rest @ ..] = names else {
        return String::new();
    };
    if rest.is_empty() {
        return format!("{first}{part}");
    }
    let mut common: Vec<&str> = first.split_whitespace().collect();
    for name in rest {
        let shared = common
            .iter()
            .zip(name.split_whitespace())
            .take_while(|(a, b)| *a == b)
            .count();
        common.truncate(shared);
    }
    format!("{}{part} (mean of {})", common.join(" "), names.len())
}

/// A column's targets as `collm compare` takes them: `A` or `A,B,C`.
pub fn column_label(column: &[Target]) -> String {
    column
        .iter()
        .map(Target::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The paired bootstrap of two sides' predictions, once every row is the same row in every
/// run: the item too, which the scores the bootstrap reads do not carry.
fn paired(
    base: &[Vec<Prediction>],
    other: &[Vec<Prediction>],
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap, PairingError> {
    let runs: Vec<&Vec<Prediction>> = base.iter().chain(other).collect();
    if let Some(first) = runs.first() {
        for run in &runs[1..] {
            // Counts first: 64 rows against 3856 is said as such, not as "row 1 differs".
            if run.len() != first.len() {
                return Err(PairingError::Length {
                    base: first.len(),
                    other: run.len(),
                });
            }
            if let Some(row) = first.iter().zip(*run).position(|(a, b)| a.row() != b.row()) {
                return Err(PairingError::Mismatch { row });
            }
        }
    }
    let scored: Vec<Vec<ScoredRow>> = runs
        .iter()
        .map(|p| p.iter().map(Prediction::scored).collect())
        .collect();
    let sides: Vec<&[ScoredRow]> = scored.iter().map(Vec::as_slice).collect();
    let (base, other) = sides.split_at(base.len());
    paired_bootstrap_over_runs(base, other, resamples, seed)
}

/// `+0.0108 [-0.0051, +0.0270] p=0.190`, `-` when the metric is undefined on the group, and
/// `+1.0000 (1 user: too few to resample)` when it rests on too few users for an interval.
/// Where fewer than the `asked` resamples defined the metric (a draw of users with rows of one
/// label only), it counts them: `… p=0.960 (915 of 1000 resamples)`; `asked` 0 leaves the
/// count out.
pub fn interval(d: Option<&Difference>, asked: usize) -> String {
    let text = difference_text(d, true);
    match d {
        Some(d) if d.is_resampled() && d.resamples < asked => {
            format!("{text} ({} of {asked} resamples)", d.resamples)
        }
        _ => text,
    }
}

/// [`interval`] in short, for a narrow table: the difference and its p-value (`+0.0108
/// p=0.190`), or with too few users, their count (`+1.0000 (1 user)`).
pub fn interval_short(d: Option<&Difference>) -> String {
    difference_text(d, false)
}

fn difference_text(d: Option<&Difference>, full: bool) -> String {
    let Some(d) = d else {
        return "-".into();
    };
    if !d.is_resampled() {
        let users = if d.users == 1 { "user" } else { "users" };
        let why = if full { ": too few to resample" } else { "" };
        return format!("{:+.4} ({} {users}{why})", d.observed, d.users);
    }
    let p = p_value(d.p_value, d.resamples);
    if full {
        format!("{:+.4} [{:+.4}, {:+.4}] {p}", d.observed, d.low, d.high)
    } else {
        format!("{:+.4} {p}", d.observed)
    }
}

/// A p-value to the resolution the resamples give: `p<0.001` rather than a bare 0.
fn p_value(p: f64, resamples: usize) -> String {
    let floor = 1.0 / resamples.max(1) as f64;
    if p < floor && floor >= 1e-3 {
        format!("p<{floor:.3}")
    } else if p < floor {
        format!("p<{floor:.0e}")
    } else {
        format!("p={p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_counts_its_resamples_where_fewer_defined_it() {
        let d = |resamples: usize| Difference {
            observed: 0.0108,
            low: -0.0051,
            high: 0.027,
            p_value: 0.19,
            resamples,
            users: 40,
        };
        assert_eq!(
            interval(Some(&d(1000)), 1000),
            "+0.0108 [-0.0051, +0.0270] p=0.190"
        );
        assert_eq!(
            interval(Some(&d(915)), 1000),
            "+0.0108 [-0.0051, +0.0270] p=0.190 (915 of 1000 resamples)"
        );
        assert_eq!(interval_short(Some(&d(915))), "+0.0108 p=0.190");
        let unresampled = Difference {
            low: f64::NAN,
            high: f64::NAN,
            p_value: f64::NAN,
            users: 1,
            ..d(0)
        };
        assert_eq!(
            interval(Some(&unresampled), 1000),
            "+0.0108 (1 user: too few to resample)"
        );
    }
}
