//! A sweep's verdict: per setting (a grid point, over its seeds) the mean and spread of the
//! selection metric on the selection split and of the metrics on the report split, and the
//! setting that the selection metric picks. Picking and reporting on different splits keeps the
//! reported number honest: the best of many settings on one split is optimistic on that split.

use collm_store::{RunRecord, RunStatus, FINAL_STAGE};
use serde::Serialize;

use super::Point;
use crate::compare::{earlier_parts, Group, Measure, GROUPS, MEASURES};

/// What picks the best setting: a metric of a group of rows of one split
/// (`valid_small`, `valid_small:uauc`, `valid_small:cold.auc`; all rows and AUC by default).
#[derive(Debug, Clone, Copy)]
pub struct Criterion<'a> {
    pub split: &'a str,
    pub group: &'static Group,
    pub measure: &'static Measure,
}

impl<'a> Criterion<'a> {
    pub fn parse(text: &'a str) -> Result<Criterion<'a>, String> {
        let (split, metric) = text.split_once(':').unwrap_or((text, "auc"));
        let (group, measure) = metric.split_once('.').unwrap_or(("all", metric));
        let group = GROUPS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(group))
            .ok_or_else(|| format!("`{text}`: no row group `{group}` (all, warm, cold)"))?;
        let measure = MEASURES
            .iter()
            .find(|m| m.higher_is_better.is_some() && m.label.eq_ignore_ascii_case(measure))
            .ok_or_else(|| format!("`{text}`: no metric `{measure}` (auc, uauc, logloss)"))?;
        if split.is_empty() {
            return Err(format!("`{text}`: name a split, e.g. valid_small:auc"));
        }
        Ok(Criterion {
            split,
            group,
            measure,
        })
    }

    /// `valid_small all AUC`.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.split, self.group.0, self.measure.label)
    }

    /// The metric of a finished run's final evaluation on the split.
    pub fn of(&self, record: &RunRecord) -> Option<f64> {
        metric_of(record, FINAL_STAGE, self.split, self.group, self.measure)
    }
}

/// The metric of a finished run's final evaluation `stage` (`final`, or `final-cf` for a part)
/// on the split.
fn metric_of(
    record: &RunRecord,
    stage: &str,
    split: &str,
    group: &Group,
    measure: &Measure,
) -> Option<f64> {
    if record.status != RunStatus::Finished {
        return None;
    }
    let eval = record.evaluation(stage, split)?;
    (measure.get)((group.1)(&eval.metrics))
}

/// Every group's every ranked metric of `stage` on `split`, over `finished` runs.
fn reported(finished: &[&RunRecord], stage: &str, split: &str) -> Vec<Reported> {
    GROUPS
        .iter()
        .flat_map(|group| {
            MEASURES
                .iter()
                .filter(|m| m.higher_is_better.is_some())
                .map(move |measure| (group, measure))
        })
        .map(|(group, measure)| Reported {
            group: group.0,
            metric: measure.label,
            stat: Stat::of(
                &finished
                    .iter()
                    .filter_map(|r| metric_of(r, stage, split, group, measure))
                    .collect::<Vec<_>>(),
            ),
        })
        .collect()
}

/// Mean and sample standard deviation of the values the runs gave (`sd` needs two).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub n: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
}

impl Stat {
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
        let sd = mean.filter(|_| n > 1).map(|m| {
            let ss: f64 = values.iter().map(|v| (v - m).powi(2)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        Stat { n, mean, sd }
    }

    /// `0.6761`, `0.6761 ± 0.0042` (over seeds), or `-`.
    pub fn show(&self) -> String {
        match (self.mean, self.sd) {
            (Some(m), Some(sd)) => format!("{m:.4} ± {sd:.4}"),
            (Some(m), None) => format!("{m:.4}"),
            _ => "-".to_string(),
        }
    }
}

/// One run of a setting, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRef {
    pub run_id: String,
    pub name: String,
    pub status: String,
}

/// One metric of the report split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reported {
    pub group: &'static str,
    pub metric: &'static str,
    #[serde(flatten)]
    pub stat: Stat,
}

/// One setting: its runs (one per seed) and their metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingSummary {
    pub setting: String,
    pub runs: Vec<RunRef>,
    pub select: Stat,
    pub report: Vec<Reported>,
    /// A CoLLM setting's earlier parts over the same runs, on the report split: its foundation
    /// alone (`cf`) and each earlier stage's model (`stage1` = TALLRec), so that a sweep over
    /// seeds shows whether the gain over them holds. Empty for other runs.
    pub parts: Vec<PartSummary>,
}

/// One earlier part of a CoLLM setting (as `collm compare RUN:cf` names it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartSummary {
    pub part: String,
    pub report: Vec<Reported>,
}

/// The statistic of one group's metric in a report.
pub fn find_reported<'a>(report: &'a [Reported], group: &str, metric: &str) -> Option<&'a Stat> {
    report
        .iter()
        .find(|r| r.group == group && r.metric == metric)
        .map(|r| &r.stat)
}

impl SettingSummary {
    /// The ids of the setting's finished runs, in the grid's order.
    pub fn finished_runs(&self) -> impl Iterator<Item = &str> {
        self.runs
            .iter()
            .filter(|r| r.status == RunStatus::Finished.as_str())
            .map(|r| r.run_id.as_str())
    }

    pub fn reported(&self, group: &str, metric: &str) -> Option<&Stat> {
        find_reported(&self.report, group, metric)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `valid_small all AUC`.
    pub select: String,
    pub report_split: String,
    pub settings: Vec<SettingSummary>,
    /// Index into `settings` of the one with the best mean selection metric.
    pub best: Option<usize>,
    /// Indices into `settings` from the best mean selection metric down (settings without a
    /// finished run are not ranked).
    pub ranking: Vec<usize>,
}

/// Groups the points' runs by setting (in the grid's order) and picks the best setting by the
/// mean of `select`; a point without a finished run counts in no mean.
pub fn summarize(
    points: &[(Point, Option<RunRecord>)],
    select: &Criterion,
    report_split: &str,
) -> Summary {
    let mut settings: Vec<SettingSummary> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (point, _) in points {
        if !seen.contains(&point.setting.as_str()) {
            seen.push(&point.setting);
        }
    }
    for setting in seen {
        let records: Vec<(&Point, Option<&RunRecord>)> = points
            .iter()
            .filter(|(p, _)| p.setting == setting)
            .map(|(p, r)| (p, r.as_ref()))
            .collect();
        let finished: Vec<&RunRecord> = records.iter().filter_map(|(_, r)| *r).collect();
        let parts = finished
            .first()
            .map(|r| earlier_parts(r))
            .unwrap_or_default()
            .into_iter()
            .map(|target| PartSummary {
                report: reported(&finished, &target.eval_stage(), report_split),
                part: target.part.unwrap_or_default(),
            })
            .collect();
        settings.push(SettingSummary {
            setting: setting.to_string(),
            runs: records
                .iter()
                .map(|(p, r)| RunRef {
                    run_id: r.map(|r| r.id.to_string()).unwrap_or_default(),
                    name: p.name.clone(),
                    status: r.map_or("not run".to_string(), |r| r.status.to_string()),
                })
                .collect(),
            select: Stat::of(
                &finished
                    .iter()
                    .filter_map(|r| select.of(r))
                    .collect::<Vec<_>>(),
            ),
            report: reported(&finished, FINAL_STAGE, report_split),
            parts,
        });
    }
    // Best first; settings without a finished run are left out.
    let mut ranking: Vec<usize> = (0..settings.len())
        .filter(|&i| settings[i].select.mean.is_some())
        .collect();
    let mean = |i: usize| settings[i].select.mean.unwrap_or(f64::NAN);
    ranking.sort_by(|&a, &b| {
        let order = mean(b).total_cmp(&mean(a));
        match select.measure.higher_is_better {
            Some(false) => order.reverse(),
            _ => order,
        }
    });
    Summary {
        select: select.label(),
        report_split: report_split.to_string(),
        best: ranking.first().copied(),
        ranking,
        settings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{grid, Axis};
    use collm_eval::{Breakdown, Metrics};
    use collm_events::Event;
    use collm_store::Store;

    /// A finished run whose final evaluation of `split` has all-rows AUC `auc` and cold AUC
    /// `auc - 0.1`.
    fn finished(store: &Store, name: &str, split: &str, auc: f64) -> RunRecord {
        let id = store.create_run(name, "", "cf").unwrap();
        let m = |auc: f64| Metrics {
            auc: Some(auc),
            ..Metrics::default()
        };
        let metrics = Breakdown {
            all: m(auc),
            warm: m(auc),
            cold: m(auc - 0.1),
        };
        for stage in ["cf", FINAL_STAGE] {
            let eval = Event::Eval {
                stage: stage.into(),
                step: 1,
                split: split.into(),
                // Training's evaluations are not results: only the final one counts.
                metrics: if stage == FINAL_STAGE {
                    metrics.clone()
                } else {
                    Breakdown {
                        all: m(0.99),
                        ..metrics.clone()
                    }
                },
            };
            store.append_event(&id, &eval).unwrap();
        }
        store.set_status(&id, RunStatus::Finished).unwrap();
        store.run(&id).unwrap()
    }

    #[test]
    fn stats_are_the_mean_and_the_sample_standard_deviation() {
        let s = Stat::of(&[0.6, 0.7, 0.8]);
        assert_eq!(s.n, 3);
        assert!((s.mean.unwrap() - 0.7).abs() < 1e-12);
        // sqrt(((0.1)^2 + 0 + (0.1)^2) / 2) = 0.1
        assert!((s.sd.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(s.show(), "0.7000 ± 0.1000");
        assert_eq!(Stat::of(&[0.5]).show(), "0.5000");
        assert_eq!(Stat::of(&[]).show(), "-");
    }

    #[test]
    fn the_best_setting_is_picked_on_the_selection_split_by_its_mean_over_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let axes = [
            Axis::parse("training.lr=1e-2,1e-3", false).unwrap(),
            Axis::parse("training.seed=1,2", true).unwrap(),
        ];
        let points = grid("mf", &axes, &[]);
        // lr=1e-2: selection AUC 0.70 and 0.60 (mean 0.65); lr=1e-3: 0.64 and 0.68 (mean 0.66),
        // so lr=1e-3 wins though lr=1e-2 has the single best run. The report split says
        // otherwise (0.80 vs 0.70), which must not change the pick. One point never ran.
        let select = [0.70, 0.60, 0.64, 0.68];
        let report = [0.80, 0.80, 0.70, 0.70];
        let mut rows: Vec<(Point, Option<RunRecord>)> = Vec::new();
        for (i, point) in points.into_iter().enumerate() {
            let record = finished(&store, &point.name, "valid_small", select[i]);
            let report_eval = Event::Eval {
                stage: FINAL_STAGE.into(),
                step: 1,
                split: "valid".into(),
                metrics: Breakdown {
                    all: Metrics {
                        auc: Some(report[i]),
                        ..Metrics::default()
                    },
                    ..Breakdown::default()
                },
            };
            store.append_event(&record.id, &report_eval).unwrap();
            let record = store.run(&record.id).unwrap();
            rows.push((point, Some(record)));
        }
        let criterion = Criterion::parse("valid_small").unwrap();
        let summary = summarize(&rows, &criterion, "valid");
        assert_eq!(summary.select, "valid_small all AUC");
        assert_eq!(summary.settings.len(), 2);
        assert_eq!(summary.settings[1].setting, "lr=1e-3");
        assert_eq!(summary.best, Some(1));
        assert_eq!(summary.ranking, [1, 0]);
        let best = &summary.settings[1];
        assert!((best.select.mean.unwrap() - 0.66).abs() < 1e-12);
        // sqrt((0.02^2 + 0.02^2) / 1)
        assert!((best.select.sd.unwrap() - 0.02 * 2f64.sqrt()).abs() < 1e-12);
        assert!((best.reported("all", "AUC").unwrap().mean.unwrap() - 0.70).abs() < 1e-12);
        assert_eq!(best.runs.len(), 2);
        assert!(best.runs.iter().all(|r| r.status == "finished"));

        // Picking by cold AUC: the same order here (cold = all - 0.1).
        let cold = Criterion::parse("valid_small:cold.auc").unwrap();
        assert_eq!(summarize(&rows, &cold, "valid").best, Some(1));
        // By logloss, lower is better; these runs have none, so nothing is picked.
        let loss = Criterion::parse("valid_small:logloss").unwrap();
        assert_eq!(summarize(&rows, &loss, "valid").best, None);

        // A point that has not run counts in no mean: lr=1e-3 is left with 0.64 alone and
        // lr=1e-2's 0.65 wins.
        rows[3].1 = None;
        let summary = summarize(&rows, &criterion, "valid");
        assert_eq!(summary.best, Some(0));
        assert_eq!(summary.settings[1].select.n, 1);
        assert_eq!(summary.settings[1].runs[1].status, "not run");

        assert!(
            Criterion::parse("valid:rows").is_err(),
            "a count picks nothing"
        );
        assert!(Criterion::parse("valid:hot.auc").is_err());
        assert!(Criterion::parse(":auc").is_err());
    }
}
