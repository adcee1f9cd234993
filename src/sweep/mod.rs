//! A sweep: one experiment file run over a grid of settings (and seeds), one point at a time:
//! the grid's points and their names, and the run of the store that already is a point.
//! [`summary`] picks the best point on one split and reports it on another.

pub mod file;
pub mod summary;

use collm_store::{RunRecord, RunStatus, Store, StoreError};

use crate::experiment::{Experiment, Override, FOUNDATION};

/// One axis of the grid: `KEY=V1,V2,...`. A replicate axis (`--seeds`) repeats each setting;
/// the summary averages over it instead of comparing along it.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<toml::Value>,
    pub replicate: bool,
}

impl Axis {
    /// Parses `KEY=V1,V2,...`; commas inside brackets or quotes belong to a value
    /// (`evaluation.splits=["valid"],["valid","valid_small"]`).
    pub fn parse(arg: &str, replicate: bool) -> Result<Axis, String> {
        let (key, list) = arg.split_once('=').ok_or_else(|| {
            format!("`{arg}`: expected KEY=V1,V2,..., e.g. training.lr=1e-2,1e-3")
        })?;
        let mut values: Vec<toml::Value> = Vec::new();
        for text in split_top_level(list) {
            if text.trim().is_empty() {
                return Err(format!(
                    "`{arg}`: an empty value (two commas in a row, or one at either end)"
                ));
            }
            let value = Override::new(key, text)?.value;
            if values
                .iter()
                .any(|v| crate::experiment::settings::same_value(v, &value))
            {
                return Err(format!("`{arg}`: `{}` is listed twice", text.trim()));
            }
            values.push(value);
        }
        let key = crate::experiment::settings::canonical_key(key);
        if replicate {
            Axis::check_seed_key(&key).map_err(|e| format!("`{arg}`: {e}"))?;
        }
        Ok(Axis {
            key,
            values,
            replicate,
        })
    }

    /// Seeds are repeats averaged into one setting's mean ± sd, so only a seed may vary
    /// there (`training.seed`, `collm.seed`): two learning rates averaged would read as the
    /// spread of one.
    pub fn check_seed_key(key: &str) -> Result<(), String> {
        match key.rsplit('.').next() {
            Some("seed") => Ok(()),
            _ => Err(format!(
                "{key} is not a seed; a setting to compare goes on --grid or in [grid]"
            )),
        }
    }
}

/// `a,[b,c],"d,e"` -> `a`, `[b,c]`, `"d,e"`; empty parts are kept (for the caller to refuse).
fn split_top_level(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in list.char_indices() {
        match c {
            '"' | '\'' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// One point of the grid: a value of every axis, in the axes' order.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub overrides: Vec<Override>,
    /// The settings without the replicate axes: the points that share it are one setting,
    /// repeated over seeds.
    pub setting: String,
    /// The run's name: the experiment's name and every axis' value.
    pub name: String,
}

/// Every combination of the axes' values, the first axis varying slowest; each point is named
/// after `base` (the experiment's name) and its values, each value by as much of its key as
/// tells it apart from the experiment's other `keys` (see [`short_keys`]).
pub fn grid(base: &str, axes: &[Axis], keys: &[String]) -> Vec<Point> {
    let labels = short_keys(axes, keys);
    let mut points = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|prefix: Vec<Override>| {
                axis.values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push(Override {
                        key: axis.key.clone(),
                        value: value.clone(),
                    });
                    next
                })
            })
            .collect();
    }
    points
        .into_iter()
        .map(|overrides| {
            let label = |replicate: Option<bool>| {
                overrides
                    .iter()
                    .zip(axes)
                    .zip(&labels)
                    .filter(|((_, axis), _)| replicate.is_none_or(|r| axis.replicate == r))
                    .map(|((o, _), short)| {
                        format!("{short}={}", crate::experiment::settings::show(&o.value))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let all = label(None);
            Point {
                setting: label(Some(false)),
                name: if all.is_empty() {
                    base.to_string()
                } else {
                    format!("{base} {all}")
                },
                overrides,
            }
        })
        .collect()
}

/// Each axis' key as names show it: the shortest ending of it (in whole parts, not starting
/// at an index) that ends no other key of the experiment (`keys`, defaults spelt out) nor of
/// another axis. `lr` where only `training.lr` is a learning rate, `stages.1.lr` beside
/// `collm.stages.0.lr` and `training.lr`: the name, read back as a `collm runs` filter (whose
/// `KEY=VALUE` matches any key ending in `.KEY`), finds this point's runs and no other's.
fn short_keys(axes: &[Axis], keys: &[String]) -> Vec<String> {
    let ends = |key: &str, ending: &str| {
        key == ending
            || key
                .strip_suffix(ending)
                .is_some_and(|rest| rest.ends_with('.'))
    };
    axes.iter()
        .map(|axis| {
            let parts: Vec<&str> = axis.key.split('.').collect();
            let others = || {
                keys.iter()
                    .map(String::as_str)
                    .chain(axes.iter().map(|a| a.key.as_str()))
                    .filter(|k| *k != axis.key)
            };
            (1..parts.len())
                .map(|n| &parts[parts.len() - n..])
                .filter(|tail| tail[0].parse::<usize>().is_err())
                .map(|tail| tail.join("."))
                .find(|ending| !others().any(|k| ends(k, ending)))
                .unwrap_or_else(|| axis.key.clone())
        })
        .collect()
}

/// The runs of a store, oldest first, each with its settings read once: what a sweep's points
/// are looked up in.
pub struct StoredRuns {
    /// Each run with its experiment (none: it no longer parses) and its identity.
    runs: Vec<(RunRecord, Option<Experiment>, Option<toml::Table>)>,
}

impl StoredRuns {
    pub fn load(store: &Store) -> Result<StoredRuns, StoreError> {
        let runs = store
            .records()?
            .runs
            .into_iter()
            .map(|r| {
                let experiment = Experiment::of_run(&r).ok();
                let settings = identity_of(&r.experiment, experiment.as_ref());
                (r, experiment, settings)
            })
            .collect();
        Ok(StoredRuns { runs })
    }

    /// The finished runs as sources, the newest first (the order in which a starting run looks
    /// for parts to share).
    pub fn finished_sources(&self) -> Vec<ShareSource> {
        self.runs
            .iter()
            .rev()
            .filter(|(r, _, _)| r.status == RunStatus::Finished)
            .filter_map(|(r, experiment, _)| {
                Some(ShareSource {
                    label: r.id.to_string(),
                    experiment: experiment.clone()?,
                })
            })
            .collect()
    }

    /// What the store already holds of a point: a run whose experiment is the point's,
    /// preferring a finished one, else the latest that can continue. A sweep run again (after
    /// Ctrl-C, a crash, or with more values) takes these instead of training them again.
    /// Neither the run's name nor where it took parts from (`[reuse]`; on the CPU a reused part
    /// is the same bytes as one trained again) matters: a `collm run` of the same settings is
    /// the point too.
    pub fn point(&self, experiment_toml: &str) -> Option<&RunRecord> {
        let wanted = identity(experiment_toml)?;
        let rank = |r: &RunRecord| match r.status {
            RunStatus::Finished => 3,
            RunStatus::Interrupted | RunStatus::Cancelled => 2,
            _ => 1,
        };
        self.runs
            .iter()
            .enumerate()
            .filter(|(_, (_, _, settings))| settings.as_ref() == Some(&wanted))
            // On equal rank the later one wins.
            .max_by_key(|(i, (r, _, _))| (rank(r), *i))
            .map(|(_, (r, _, _))| r)
    }
}

/// An experiment's settings without its name and `[reuse]`, read through today's parser so that
/// a setting added since a run was stored counts as its default there (a stored run without
/// `cf_input` is the point that spells `cf_input = "raw"`). Text that no longer parses as an
/// experiment is compared as written.
fn identity(text: &str) -> Option<toml::Table> {
    Some(strip_identity(Experiment::spelled_out(text).parse().ok()?))
}

/// [`identity`] of `text` already read as `experiment` (none: it does not parse).
fn identity_of(text: &str, experiment: Option<&Experiment>) -> Option<toml::Table> {
    Some(strip_identity(
        Experiment::spelled(text, experiment).parse().ok()?,
    ))
}

/// A setting's table without what does not make it another setting: its name and `[reuse]`.
fn strip_identity(mut table: toml::Table) -> toml::Table {
    table.remove("reuse");
    table.remove("name");
    table
}

/// The settings that only seed a run (`[collm] seed`, `[training] seed`): runs that differ in
/// nothing else are one setting over seeds.
const SEED_KEYS: [(&str, &str); 2] = [("collm", "seed"), ("training", "seed")];

/// A run's experiment split into its setting and its seeds, with its name and `[reuse]` set
/// aside: runs of one setting that differ only in their seeds are one setting over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedSetting {
    /// `None`: the experiment no longer parses, a setting of its own.
    setting: Option<toml::Table>,
    seeds: Vec<Option<i64>>,
}

impl SeedSetting {
    /// Of an experiment's text, already read as `experiment` (none: it does not parse).
    pub fn of(experiment_toml: &str, experiment: Option<&Experiment>) -> SeedSetting {
        let mut setting = identity_of(experiment_toml, experiment);
        let seeds = SEED_KEYS
            .iter()
            .map(|(table, key)| {
                let table = setting.as_mut()?.get_mut(*table)?.as_table_mut()?;
                table.remove(*key)?.as_integer()
            })
            .collect();
        SeedSetting { setting, seeds }
    }

    fn same_setting(&self, other: &SeedSetting) -> bool {
        self.setting.is_some() && self.setting == other.setting
    }
}

/// Groups items (runs, each with its setting) by setting over seeds: the groups in the order
/// of their first items, each group's items in seed order, so that the i-th items of two
/// groups share their seeds where both ran them. An unreadable setting is a group of its own,
/// and a group holds each seed once: a rerun of a seed joins another group of its setting (or
/// starts one), since counting one seed twice would weigh it double in the group's mean.
pub fn group_by_seeds<'a, T>(items: impl IntoIterator<Item = (&'a SeedSetting, T)>) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<(&SeedSetting, T)>> = Vec::new();
    for (setting, item) in items {
        let fits = |g: &&mut Vec<(&SeedSetting, T)>| {
            g[0].0.same_setting(setting) && g.iter().all(|(s, _)| s.seeds != setting.seeds)
        };
        match groups.iter_mut().find(fits) {
            Some(members) => members.push((setting, item)),
            None => groups.push(vec![(setting, item)]),
        }
    }
    groups
        .into_iter()
        .map(|mut members| {
            members.sort_by(|a, b| a.0.seeds.cmp(&b.0.seeds));
            members.into_iter().map(|(_, item)| item).collect()
        })
        .collect()
}

/// A run a CoLLM point may take its foundation and first stages from: a finished run of the
/// store (labelled by its id) or, for `--dry-run`, an earlier point still to run.
pub struct ShareSource {
    pub label: String,
    pub experiment: Experiment,
}

/// A stored run as a source, whatever its status.
pub fn record_source(record: &RunRecord) -> Result<ShareSource, String> {
    Ok(ShareSource {
        label: record.id.to_string(),
        experiment: Experiment::of_run(record).map_err(|e| e.to_string())?,
    })
}

/// Takes a CoLLM point's foundation and first stages from the first of `sources` that computed
/// exactly what this point would (a sweep over stage 2's learning rate trains stage 1 once),
/// writing the source's label into the point's `[reuse]`. Parts the experiment already takes
/// from a run are left alone. Returns the parts taken, with their source's label.
pub fn share_earlier(
    experiment: &mut Experiment,
    sources: &[&ShareSource],
) -> Vec<(String, String)> {
    let Some(cfg) = experiment.collm.clone() else {
        return Vec::new();
    };
    let mut taken = Vec::new();
    let mut take = |experiment: &mut Experiment, part: &str| {
        if experiment.reuse.contains_key(part) {
            return true;
        }
        // A foundation is the same only if it trained the same way too: `[reuse] cf` alone
        // accepts any training of the same model, but a sweep over `[training]` must not.
        let found = sources.iter().find(|source| {
            experiment
                .can_reuse_from(part, &source.experiment, &source.label)
                .is_ok()
                && (part != FOUNDATION || source.experiment.training == experiment.training)
        });
        match found {
            Some(source) => {
                experiment
                    .reuse
                    .insert(part.to_string(), source.label.clone());
                taken.push((part.to_string(), source.label.clone()));
                true
            }
            None => false,
        }
    };
    if crate::experiment::trains_foundation(&cfg) {
        take(experiment, FOUNDATION);
    }
    for stage in cfg.stage_names() {
        if !take(experiment, &stage) {
            break;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_split_on_top_level_commas_only() {
        let a = Axis::parse("training.lr=1e-2, 1e-3,1e-4", false).unwrap();
        assert_eq!(a.key, "training.lr");
        assert_eq!(
            a.values,
            [1e-2, 1e-3, 1e-4].map(toml::Value::Float).to_vec()
        );
        let s = Axis::parse(
            r#"evaluation.splits=["valid"],["valid", "valid_small"],"a,b""#,
            false,
        )
        .unwrap();
        assert_eq!(s.values.len(), 3);
        assert_eq!(s.values[2], toml::Value::String("a,b".into()));
        assert!(Axis::parse("training.lr", false).is_err());
        assert!(Axis::parse("training.lr=", false).is_err());
        for empty in [
            "training.lr=1e-2,,1e-3",
            "training.lr=1e-2,",
            "training.lr=,1e-2",
        ] {
            assert!(
                Axis::parse(empty, false)
                    .unwrap_err()
                    .contains("an empty value"),
                "{empty}"
            );
        }
        assert!(Axis::parse("training.lr=1e-3,0.001", false)
            .unwrap_err()
            .contains("twice"));
        // One number in two TOML types is one value: 1 and 1.0 would be two identical points.
        assert!(Axis::parse("training.lr=1,1.0", false)
            .unwrap_err()
            .contains("`1.0` is listed twice"));
        // Seeds average into one setting's spread: only seeds may be replicates.
        assert_eq!(
            Axis::parse("training.lr=1e-2,1e-1", true).unwrap_err(),
            "`training.lr=1e-2,1e-1`: training.lr is not a seed; a setting to compare goes on \
             --grid or in [grid]"
        );
        assert!(Axis::parse("training.seed=1,2", true).is_ok());
    }

    #[test]
    fn a_stored_run_without_a_newer_default_setting_is_the_point_that_spells_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut point = Experiment::load(&dir.join("collm-sasrec-ml1m.toml")).unwrap();
        let spelled = point.to_toml();
        assert!(spelled.contains("cf_input = \"raw\"\n"), "{spelled}");
        // As a run stored before the setting existed wrote it, under another name.
        let old = spelled
            .replace("cf_input = \"raw\"\n", "")
            .replace("name = \"collm-sasrec-ml1m\"", "name = \"renamed\"");
        assert_eq!(identity(&old), identity(&spelled));
        point.collm.as_mut().unwrap().slots.cf_input = collm_pipeline::CfInput::Unit;
        assert_ne!(identity(&old), identity(&point.to_toml()));
        // Text that no longer parses as an experiment is still compared, as written.
        let retired = format!("{old}\nretired_key = 1\n");
        assert_eq!(identity(&retired), identity(&retired));
        assert_ne!(identity(&retired), identity(&old));
    }

    #[test]
    fn runs_that_differ_only_in_seeds_group_in_seed_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let base = Experiment::load(&dir.join("collm-mf-ml1m.toml")).unwrap();
        let with = |seed: u64, lr: f64, name: &str| {
            let mut e = base.clone();
            e.name = name.into();
            let collm = e.collm.as_mut().unwrap();
            collm.seed = seed;
            collm.stages[1].lr = lr;
            SeedSetting::of(&e.to_toml(), Some(&e))
        };
        let runs = [
            (with(2, 1e-2, "a"), "a2"),
            (with(42, 1e-3, "b"), "b42"),
            (with(1, 1e-2, "a seed=1"), "a1"),
            (SeedSetting::of("not an experiment =", None), "x"),
            (with(42, 1e-2, "a"), "a42"),
            (SeedSetting::of("not an experiment =", None), "y"),
            (with(2, 1e-2, "a"), "a2 again"),
        ];
        let groups = group_by_seeds(runs.iter().map(|(s, name)| (s, *name)));
        // Names do not split a setting; an unreadable experiment is always a group of its own;
        // a seed run twice is not two seeds: the rerun starts another group of the setting.
        assert_eq!(
            groups,
            [
                vec!["a1", "a2", "a42"],
                vec!["b42"],
                vec!["x"],
                vec!["y"],
                vec!["a2 again"]
            ]
        );
    }

    #[test]
    fn the_grid_varies_the_first_axis_slowest_and_names_points() {
        let axes = [
            Axis::parse("collm.stages.0.lr=1e-3,1e-2", false).unwrap(),
            Axis::parse("collm.stages.1.lr=0.5", false).unwrap(),
            Axis::parse("collm.seed=1,2", true).unwrap(),
        ];
        let points = grid("x", &axes, &[]);
        let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "x stages.0.lr=1e-3 stages.1.lr=0.5 seed=1",
                "x stages.0.lr=1e-3 stages.1.lr=0.5 seed=2",
                "x stages.0.lr=0.01 stages.1.lr=0.5 seed=1",
                "x stages.0.lr=0.01 stages.1.lr=0.5 seed=2",
            ]
        );
        // A key ends as much of itself as tells it from the experiment's other keys: a name
        // read back as a `collm runs` filter finds its point's runs alone.
        let keys = ["training.seed", "collm.lora.r"].map(String::from);
        let axes = [
            Axis::parse("collm.stages.1.lr=0.5", false).unwrap(),
            Axis::parse("collm.lora.r=4", false).unwrap(),
            Axis::parse("collm.seed=1", true).unwrap(),
        ];
        assert_eq!(
            grid("x", &axes, &keys)[0].name,
            "x lr=0.5 r=4 collm.seed=1",
            "one learning rate"
        );
        let keys = [&keys[..], &["training.lr".to_string()]].concat();
        assert_eq!(
            grid("x", &axes, &keys)[0].name,
            "x stages.1.lr=0.5 r=4 collm.seed=1"
        );
        assert_eq!(points[0].setting, points[1].setting);
        assert_ne!(points[1].setting, points[2].setting);
        assert_eq!(points[3].overrides[2].to_string(), "collm.seed=2");
        assert_eq!(grid("x", &[], &[]).len(), 1, "no axes: the file itself");
        assert_eq!(grid("x", &[], &[])[0].name, "x");
    }
}
