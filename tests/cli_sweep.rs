//! `collm sweep` and `collm run --set`: every point of a grid runs with its settings written into
//! the stored experiment, the best setting is the one with the best mean selection metric over
//! its seeds (checked against the runs' own records), the same command again runs nothing new,
//! a sweep stopped by Ctrl-C continues its cancelled point, a CoLLM point takes the stages an
//! earlier point computed the same (with the same result as training them), and bad settings or
//! splits are reported before any run is created.

mod common;

use common::{ctrl_c, mf_experiment, path_str, Env, Interrupted, QUICK_COLLM_TINY};
use serde_json::Value;

fn run_ids(env: &Env) -> Vec<String> {
    // A sweep refused before it opened the store made none: no runs.
    if !env.store().exists() {
        return Vec::new();
    }
    let runs = env.json(&["runs", "--json"]);
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

/// A run's final all-rows AUC on `split`, from its own record.
fn final_auc(env: &Env, id: &str, split: &str) -> f64 {
    env.json(&["show", id, "--json"])["splits"][split]["all"]["auc"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_sweep_runs_each_point_picks_on_the_selection_split_and_repeats_nothing() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 2, 2, 0.01));
    // `collm sweep` of the file over these learning rates and seeds, and the flags after.
    let args = |lrs: &str, seeds: &str, more: &[&str]| -> Vec<String> {
        let lrs = format!("training.lr={lrs}");
        let seeds = format!("training.seed={seeds}");
        let file = path_str(&exp);
        [
            "sweep",
            file,
            "--grid",
            &lrs,
            "--seeds",
            &seeds,
            "--set",
            "model.dim=8",
        ]
        .iter()
        .chain(more)
        .map(|a| a.to_string())
        .collect()
    };
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let sweep = |seeds: &str| env.json(&strs(&args("1e-2,1e-3", seeds, &["--json"])));
    let s = sweep("1,2");
    assert_eq!(s["experiment"], "mf");
    assert_eq!(s["select"], "valid_small all AUC");
    assert_eq!(s["report_split"], "valid");
    assert_eq!(s["stopped"], false);
    let settings = s["settings"].as_array().unwrap();
    let names: Vec<&str> = settings
        .iter()
        .map(|x| x["setting"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lr=0.01", "lr=1e-3"]);
    assert_eq!(run_ids(&env).len(), 4);

    // Each setting's numbers are the mean of its runs' own final results.
    let mut means = Vec::new();
    for x in settings {
        let runs = x["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
        for (run, seed) in runs.iter().zip(["seed=1", "seed=2"]) {
            assert_eq!(run["status"], "finished");
            assert!(run["name"].as_str().unwrap().ends_with(seed), "{run}");
        }
        let mean = |split: &str| ids.iter().map(|id| final_auc(&env, id, split)).sum::<f64>() / 2.0;
        let select = mean("valid_small");
        assert!((x["select"]["mean"].as_f64().unwrap() - select).abs() < 1e-12);
        assert_eq!(x["select"]["n"], 2);
        let report = &x["report"][0];
        assert_eq!(
            (&report["group"], &report["metric"]),
            (&"all".into(), &"AUC".into())
        );
        assert!((report["mean"].as_f64().unwrap() - mean("valid")).abs() < 1e-12);
        means.push(select);

        // The stored experiment is the changed one: the point's value and the --set.
        let full = env.json(&["export", ids[0], "--format", "json"]);
        let text = full["record"]["experiment"].as_str().unwrap();
        let lr = x["setting"].as_str().unwrap().trim_start_matches("lr=");
        let want: f64 = lr.parse().unwrap();
        assert!(text.contains(&format!("lr = {want:?}")), "{text}");
        assert!(text.contains("dim = 8"), "{text}");
    }
    let best = if means[0] >= means[1] { 0 } else { 1 };
    assert_eq!(s["best"], best);

    // The same command again: every point is taken from the store, the same summary.
    assert_eq!(sweep("1,2"), s);
    assert_eq!(run_ids(&env).len(), 4);
    // One more seed runs only the two new points.
    let more = sweep("1,2,3");
    assert_eq!(run_ids(&env).len(), 6);
    assert_eq!(more["settings"][0]["select"]["n"], 3);

    // The table names the pick and how to test it against the runner-up.
    let table = env.ok(&strs(&args("1e-2,1e-3", "1,2", &[])));
    let best_name = names[best];
    assert!(table.contains(&format!("best: {best_name} (")), "{table}");
    // ... measured against the runner-up over both seeds (a column per setting, paired seed by
    // seed): the numbers of the `collm compare` it names.
    let column = |i: usize| -> String {
        let runs = s["settings"][i]["runs"].as_array().unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
        ids.join(",")
    };
    let (ours, theirs) = (column(best), column(1 - best));
    let hint = format!("collm compare {theirs} {ours} --split valid");
    assert!(table.contains(&hint), "{hint} missing from {table}");
    assert!(
        table.contains(&format!(
            "against the runner-up {} on valid, paired over users and 2 seeds: AUC ",
            names[1 - best]
        )),
        "{table}"
    );
    let up = &s["runner_up"];
    assert_eq!(up["compare"], hint.as_str());
    assert_eq!(up["bootstrap"]["runs"], 2);
    let c = env.json(&["compare", &theirs, &ours, "--split", "valid", "--json"]);
    assert_eq!(up["bootstrap"], c["differences"][0]["bootstrap"]);
    let dry = env.ok(&strs(&args("1e-2,1e-4", "1", &["--dry-run"])));
    let both = env.output(&strs(&args("1e-2", "1", &["--dry-run", "--json"])));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
    assert!(dry.contains("mf lr=0.01 seed=1  finished as "), "{dry}");
    assert!(dry.contains("mf lr=1e-4 seed=1  new"), "{dry}");
    assert!(
        dry.ends_with("\n2 points: 1 new, 1 in the store\n"),
        "{dry}"
    );
    assert_eq!(run_ids(&env).len(), 6, "a dry run runs nothing");
}

#[test]
fn run_set_changes_the_stored_experiment() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 1, 1, 0.01));
    let out = env.json(&[
        "run",
        path_str(&exp),
        "--set",
        "training.weight_decay=0",
        "--set",
        "evaluation.rows=500",
        "--json",
    ]);
    assert_eq!(out["splits"]["valid"]["all"]["rows"], 500);
    let full = env.json(&[
        "export",
        out["run_id"].as_str().unwrap(),
        "--format",
        "json",
    ]);
    let text = full["record"]["experiment"].as_str().unwrap();
    assert!(
        text.contains("weight_decay = 0.0"),
        "an integer where a float is: {text}"
    );
}

#[test]
fn bad_settings_and_splits_are_reported_before_any_run() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 1, 1, 0.01));
    let file = path_str(&exp);
    // The arguments after `sweep FILE`, and what the error must say.
    let cases: [(&[&str], &str); 5] = [
        (
            &["--grid", "training.batch_sise=64"],
            "with `training.batch_sise=64`: unknown field `batch_sise`",
        ),
        (
            &["--select", "test"],
            "--select test: the dataset has no split `test` (it has train, valid, valid_small)",
        ),
        (
            &[
                "--report",
                "valid_small",
                "--set",
                "evaluation.splits=[\"valid\"]",
            ],
            "--report valid_small: mf lr=0.01 scores only [\"valid\"] at the end",
        ),
        (&["--select", "valid:rows"], "no metric `rows`"),
        (
            &["--set", "training.lr=1"],
            "training.lr is both swept and set",
        ),
    ];
    for (rest, want) in cases {
        let mut args = vec!["sweep", file, "--grid", "training.lr=1e-2"];
        args.extend_from_slice(rest);
        let out = env.output(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = env.output(&["run", file, "--set", "training.lr"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"));
    // A device this build lacks, as the points are placed, before any point runs.
    if cfg!(not(feature = "cuda")) {
        let out = env.output(&[
            "sweep",
            file,
            "--grid",
            "training.lr=1e-2,1e-3",
            "--device",
            "cuda:0",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("device \"cuda:0\""),
            "{err}"
        );
    }
    assert!(run_ids(&env).is_empty());
}

/// A sweep file's own mistakes are reported at its lines, not at the experiment it sweeps.
#[test]
fn a_sweep_files_bad_settings_are_named_at_its_own_lines() {
    let env = Env::new();
    env.write("mf.toml", &mf_experiment("mf", 1, 1, 0.01));
    let cases = [
        (
            "experiment = \"mf.toml\"\n\n[grid]\ntraining.lrr = [1e-2, 1e-3]\n",
            "sweep.toml:4:1: [grid] training.lrr: with `training.lrr=0.01`, experiment ",
        ),
        (
            "experiment = \"mf.toml\"\n[set]\nmodel.dims = 8\n[grid]\ntraining.lr = [1e-2]\n",
            "sweep.toml:3:1: [set] model.dims: ",
        ),
        (
            "experiment = \"mf.toml\"\nselect = \"tets\"\n[grid]\ntraining.lr = [1e-2]\n",
            "sweep.toml:2: select = tets: the dataset has no split `tets` (it has train, valid, \
             valid_small)",
        ),
        (
            "experiment = \"mf.toml\"\nreport = \"tets\"\n",
            "sweep.toml:2: report = tets: the dataset has no split `tets`",
        ),
        (
            "# the MF search\nexperiment = \"nope.toml\"\n",
            "sweep.toml:2: experiment = ...: cannot read experiment ",
        ),
        (
            "[grid]\ntraining.lr = [1e-2]\n",
            "sweep.toml:1:1: missing field `experiment`",
        ),
    ];
    for (text, want) in cases {
        let file = env.write("sweep.toml", text);
        let out = env.output(&["sweep", path_str(&file), "--dry-run"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{text}: {err}");
    }
    let out = env.output(&[
        "sweep",
        path_str(&env.write("mf2.toml", &mf_experiment("mf", 1, 1, 0.01))),
        "--grid",
        "training.lr=1e-2,,1e-3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("an empty value"), "{err}");
    // A source named by --reuse is blamed on the flag, as `collm run` does.
    let out = env.output(&[
        "sweep",
        QUICK_COLLM_TINY,
        "--grid",
        "collm.stages.1.lr=1e-2,5e-3",
        "--reuse",
        "stage1=nonexistent",
        "--dry-run",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--reuse stage1=nonexistent: no run"), "{err}");
    assert!(run_ids(&env).is_empty());
}

#[test]
fn a_sweep_stopped_by_ctrl_c_continues_its_cancelled_point() {
    let env = Env::new();
    // Long enough (about 3 s a point) for Ctrl-C to land inside the first point.
    let exp = env.write("mf.toml", &mf_experiment("mf", 150, 150, 0.01));
    let args = [
        "sweep",
        path_str(&exp),
        "--grid",
        "training.lr=1e-2,1e-3",
        "--json",
    ];
    let (mut running, stderr) = env.start_until(&args, "(new best)");
    let Interrupted {
        code,
        stdout,
        stderr: seen,
    } = ctrl_c(&mut running, stderr);
    assert_eq!(code, Some(130), "{seen}");
    assert!(
        seen.contains("sweep stopped; the same command continues it"),
        "{seen}"
    );
    let stopped: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stopped["stopped"], true);
    assert_eq!(stopped["settings"][0]["runs"][0]["status"], "cancelled");
    assert_eq!(stopped["settings"][1]["runs"][0]["status"], "not run");
    let cancelled = stopped["settings"][0]["runs"][0]["run_id"]
        .as_str()
        .unwrap();

    let out = env.output(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("continuing run {cancelled}")),
        "{log}"
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["settings"][0]["runs"][0]["run_id"], cancelled);
    for x in done["settings"].as_array().unwrap() {
        assert_eq!(x["runs"][0]["status"], "finished", "{x}");
    }
    assert_eq!(
        run_ids(&env).len(),
        2,
        "the cancelled run was continued, not redone"
    );
}

/// Ctrl-C while a point scores its final rows (a step that does not stop midway) lets that point
/// finish and starts no other: the sweep stops as it says (it went on to every point).
#[test]
fn ctrl_c_in_a_point_s_final_scoring_starts_no_further_point() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 2, 2, 0.01));
    let grid = "training.lr=1e-2,9e-3,8e-3,7e-3";
    let args = ["sweep", path_str(&exp), "--grid", grid];
    let (mut running, stderr) = env.start_until(&args, "with its weights");
    let Interrupted { code, stderr, .. } = ctrl_c(&mut running, stderr);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("sweep stopped"), "{stderr}");
    // The point scoring finished (or, were the signal slow to land, the next one was created
    // and cancelled): never more.
    let finished = stderr.matches(" finished in ").count();
    assert!(finished <= 1 && run_ids(&env).len() <= 2, "{stderr}");
}

/// A finished sweep that took parts with `--reuse` shows again with the same command after its
/// source run was deleted (each point kept its own copy); a new point still needs the source.
#[test]
fn a_finished_sweep_shows_again_after_its_reuse_source_is_deleted() {
    let env = Env::new();
    let source = env.json(&["run", QUICK_COLLM_TINY, "--json"]);
    let source = source["run_id"].as_str().unwrap().to_string();
    let reuse = [format!("stage1={source}"), format!("cf={source}")];
    let sweep = |lrs: &str| {
        env.output(&[
            "sweep",
            QUICK_COLLM_TINY,
            "--grid",
            &format!("collm.stages.1.lr={lrs}"),
            "--reuse",
            &reuse[0],
            "--reuse",
            &reuse[1],
            "--json",
        ])
    };
    // The plan names what each point takes, --reuse included, with sharing on or off.
    for share in [None, Some("--no-share")] {
        let grid = "collm.stages.1.lr=5e-3,2e-3";
        let mut args = vec!["sweep", QUICK_COLLM_TINY, "--grid", grid, "--dry-run"];
        args.extend(["--reuse", &reuse[0], "--reuse", &reuse[1]]);
        args.extend(share);
        let plan = env.ok(&args);
        let taken = format!("cf from {source}, stage1 from {source}");
        assert_eq!(plan.matches(&taken).count(), 2, "{plan}");
    }
    assert!(sweep("5e-3,2e-3").status.success());
    env.ok(&["delete", &source, "--yes"]);
    let again = sweep("5e-3,2e-3");
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert_eq!(log.matches("finished earlier as run").count(), 2, "{log}");
    let out = sweep("5e-3,1e-3");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(&source), "{err}");
}

/// The `takes` column of `collm sweep --dry-run` over stage 2's learning rates, a cell per point.
fn plan_takes(env: &Env, lrs: &str) -> Vec<String> {
    let grid = format!("collm.stages.1.lr={lrs}");
    let out = env.output(&["sweep", QUICK_COLLM_TINY, "--grid", &grid, "--dry-run"]);
    let plan = String::from_utf8_lossy(&out.stdout);
    // Picking and reporting on `valid` is flagged, with advice that works as given.
    let note = String::from_utf8_lossy(&out.stderr);
    let advice = "--set 'evaluation.splits=[\"valid\",\"valid_small\"]' --select valid_small";
    assert_eq!(note.contains(advice), lrs.contains(','), "{note}");
    let mut lines: Vec<&str> = plan.lines().collect();
    lines.pop(); // the count of points
    let header = lines.remove(0);
    let column = header.find("takes").unwrap_or_else(|| panic!("{plan}"));
    lines
        .iter()
        .map(|l| l[column..].trim().to_string())
        .collect()
}

#[test]
fn a_collm_sweep_over_stage_two_trains_stage_one_once_to_the_same_result() {
    let (shared, alone) = (Env::new(), Env::new());
    let sweep = |env: &Env, values: &str| {
        let out = env.output(&[
            "sweep",
            QUICK_COLLM_TINY,
            "--grid",
            &format!("collm.stages.1.lr={values}"),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        (serde_json::from_slice::<Value>(&out.stdout).unwrap(), log)
    };
    // The dry run says beforehand what each point will take, and from where.
    let plan = plan_takes(&shared, "1e-2,5e-3");
    assert_eq!(plan, ["-", "cf from #1, stage1 from #1"]);
    let (both, log) = sweep(&shared, "1e-2,5e-3");
    let first = both["settings"][0]["runs"][0]["run_id"].as_str().unwrap();
    for part in ["cf", "stage1"] {
        assert!(
            log.contains(&format!(
                "{part} taken from run {first}, which computed the same"
            )),
            "{log}"
        );
    }
    let second = both["settings"][1]["runs"][0]["run_id"].as_str().unwrap();
    let full = shared.json(&["export", second, "--format", "json"]);
    let text = full["record"]["experiment"].as_str().unwrap();
    assert!(text.contains(&format!("stage1 = \"{first}\"")), "{text}");

    // Each setting reports its foundation and TALLRec beside it: the runs' own final
    // evaluations of those parts, the same for both settings since they share them.
    let parts = &both["settings"][1]["parts"];
    let names: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cf", "stage1"]);
    assert_eq!(both["settings"][0]["parts"], *parts);
    let split = both["report_split"].as_str().unwrap();
    for (i, part) in names.iter().enumerate() {
        let own = full["record"]["best"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["stage"] == format!("final-{part}") && e["split"] == split)
            .unwrap_or_else(|| panic!("no final-{part} on {split}: {full}"));
        let all_auc = parts[i]["report"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == "all" && r["metric"] == "AUC")
            .unwrap();
        assert_eq!(all_auc["mean"], own["metrics"]["all"]["auc"], "{part}");
        assert_eq!(all_auc["n"], 1);
    }
    let table = shared.ok(&[
        "sweep",
        QUICK_COLLM_TINY,
        "--grid",
        "collm.stages.1.lr=1e-2,5e-3",
    ]);
    assert!(
        table.contains("  its cf  ") && table.contains("  its stage1  "),
        "{table}"
    );

    // The same point trained from scratch in another store: the same numbers, to the bit.
    let (single, log) = sweep(&alone, "5e-3");
    assert!(!log.contains("which computed the same"), "{log}");
    assert_eq!(
        single["settings"][0]["report"],
        both["settings"][1]["report"]
    );
    assert_eq!(
        single["settings"][0]["select"],
        both["settings"][1]["select"]
    );

    // A new sweep takes them from the store's runs too, with the same result again.
    let alone_id = single["settings"][0]["runs"][0]["run_id"].as_str().unwrap();
    assert_eq!(
        plan_takes(&alone, "1e-2"),
        [format!("cf from {alone_id}, stage1 from {alone_id}")]
    );
    let (other, log) = sweep(&alone, "1e-2");
    assert!(
        log.contains(&format!(
            "cf taken from run {alone_id}, which computed the same"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "stage1 taken from run {alone_id}, which computed the same"
        )),
        "{log}"
    );
    assert_eq!(
        other["settings"][0]["report"],
        both["settings"][0]["report"]
    );
}

#[test]
fn a_sweep_file_keeps_the_grid_and_the_command_line_adds_to_it() {
    let env = Env::new();
    env.write("mf.toml", &mf_experiment("mf", 2, 2, 0.01));
    let file = env.write(
        "sweep.toml",
        "experiment = \"mf.toml\"\nselect = \"valid:uauc\"\nreport = \"valid_small\"\n\n[set]\nmodel.dim = 8\n\n[grid]\ntraining.lr = [1e-2, 1e-3]\n",
    );
    let s = env.json(&[
        "sweep",
        path_str(&file),
        "--seeds",
        "training.seed=1,2",
        "--set",
        "training.max_epochs=1",
        "--json",
    ]);
    assert_eq!(s["select"], "valid all UAUC");
    assert_eq!(s["report_split"], "valid_small");
    let settings = s["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2);
    let id = settings[1]["runs"][1]["run_id"].as_str().unwrap();
    assert_eq!(settings[1]["runs"][1]["name"], "mf lr=1e-3 seed=2");
    let full = env.json(&["export", id, "--format", "json"]);
    let text = full["record"]["experiment"].as_str().unwrap();
    for want in ["lr = 0.001", "seed = 2", "dim = 8", "max_epochs = 1"] {
        assert!(text.contains(want), "{want}: {text}");
    }
    // The command line's choices win over the file's.
    let s = env.json(&[
        "sweep",
        path_str(&file),
        "--select",
        "valid_small",
        "--set",
        "training.max_epochs=1",
        "--json",
    ]);
    assert_eq!(s["select"], "valid_small all AUC");
    // A setting both in the file's grid and on the command line's is refused.
    let out = env.output(&["sweep", path_str(&file), "--grid", "training.lr=0.1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("training.lr is swept twice"));
}

#[test]
fn a_failed_point_leaves_the_others_to_run_and_is_not_retried_unasked() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 1, 1, 0.01));
    // A dataset folder that is not there is refused before any point runs.
    let missing = format!("dataset.path=\"{}\",\"/nonexistent/data\"", common::ML1M);
    let out = env.output(&["sweep", path_str(&exp), "--grid", &missing]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("setting `dataset.path`: /nonexistent/data: no such folder"),
        "{err}"
    );
    assert!(run_ids(&env).is_empty());
    // The second dataset's train.tsv has a bad label: that point fails when it loads its data.
    let bad = common::bad_dataset(env.store().parent().unwrap());
    let axis = format!("dataset.path=\"{}\",\"{}\"", common::ML1M, bad.display());
    let args = ["sweep", path_str(&exp), "--grid", &axis, "--json"];
    let out = env.output(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&Value> = s["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["runs"][0]["status"])
        .collect();
    assert_eq!(statuses, ["finished", "failed"]);
    assert_eq!(s["best"], 0);
    // The failed point's line names its reason, once.
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches("train.tsv:2: field `label`").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains(" failed (") && log.contains("train.tsv:2"),
        "{log}"
    );

    let again = env.output(&args);
    assert_eq!(again.status.code(), Some(1));
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(log.contains("failed earlier as run"), "{log}");
    assert!(log.contains("retries it"), "{log}");
    assert_eq!(run_ids(&env).len(), 2, "nothing ran again");
}

#[test]
fn a_plain_run_with_a_point_settings_is_that_point() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 1, 1, 0.01));
    let run = env.json(&["run", path_str(&exp), "--set", "training.lr=1e-3", "--json"]);
    let id = run["run_id"].as_str().unwrap();
    let plan = env.ok(&[
        "sweep",
        path_str(&exp),
        "--grid",
        "training.lr=1e-2,1e-3",
        "--dry-run",
    ]);
    assert!(plan.contains("mf lr=0.01  new"), "{plan}");
    // A grid of more points than a sweep plans is refused at once.
    let hundred: Vec<String> = (1..=101).map(|d| d.to_string()).collect();
    let dims = format!("model.dim={}", hundred.join(","));
    let sizes = format!("training.batch_size={}", hundred.join(","));
    let out = env.output(&["sweep", path_str(&exp), "--grid", &dims, "--grid", &sizes]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("the grid has 101 x 101 points, more than 10000"),
        "{err}"
    );
    assert!(
        plan.contains(&format!("mf lr=1e-3  finished as {id}")),
        "{plan}"
    );
}

#[test]
fn a_sweep_over_seeds_alone_reports_the_spread_and_picks_nothing() {
    let env = Env::new();
    let exp = env.write("mf.toml", &mf_experiment("mf", 1, 1, 0.01));
    let out = env.output(&[
        "sweep",
        path_str(&exp),
        "--seeds",
        "training.seed=1,2",
        "--set",
        "model.dim=8",
        "--select",
        "valid",
        "--report",
        "valid",
    ]);
    assert!(out.status.success(), "{out:?}");
    let (table, log) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let ids = run_ids(&env);
    assert_eq!(ids.len(), 2);
    assert!(
        table.contains("2 runs of one setting, reported on valid"),
        "{table}"
    );
    assert!(table.contains("(the file)  2/2"), "{table}");
    for id in &ids {
        assert!(table.contains(id.as_str()), "{table}");
    }
    assert!(!table.contains("best:"), "nothing was picked: {table}");
    assert!(
        !table.contains(" its "),
        "an MF run has no earlier parts: {table}"
    );
    assert!(!log.contains("optimistic"), "nothing was picked: {log}");
}
