//! `collm compare` and the per-row scores it pairs runs by: a finished run keeps its final scores,
//! `collm eval --split --predictions` scores the same rows again to the same bytes, the paired
//! bootstrap's observed differences are the runs' metric differences, `collm ensemble` combines
//! two runs on the rows both scored, and runs whose scores cannot be paired are reported with the
//! reason instead of a number.

mod common;

use common::{path_str, Env, QUICK_COLLM_TINY};
use serde_json::Value;

fn predictions(env: &Env, id: &str) -> std::path::PathBuf {
    env.store()
        .join("runs")
        .join(id)
        .join("predictions/valid.tsv")
}

fn auc(run: &Value, group: &str, metric: &str) -> f64 {
    run["splits"]["valid"][group][metric].as_f64().unwrap()
}

#[test]
fn compare_measures_two_runs_on_the_rows_both_scored() {
    let env = Env::new();
    let a = env.json(&["run", QUICK_COLLM_TINY, "--json"]);
    // The same experiment with another LLM-side seed: other LoRA and mapping initialisations.
    let other = std::fs::read_to_string(QUICK_COLLM_TINY)
        .unwrap()
        .replace("seed = 42", "seed = 7");
    let b_file = env.write("tiny-seed7.toml", &other);
    let b = env.json(&["run", path_str(&b_file), "--json"]);
    let (ia, ib) = (a["run_id"].as_str().unwrap(), b["run_id"].as_str().unwrap());

    // Each run kept its 64 final rows, header first.
    let kept = std::fs::read_to_string(predictions(&env, ia)).unwrap();
    assert_eq!(kept.lines().next(), Some("uid\tiid\tlabel\twarm\tlogit"));
    assert_eq!(kept.lines().count(), 65);

    let shown = env.ok(&["show", ia]);
    assert!(
        shown.contains(&format!("{}", predictions(&env, ia).display())),
        "{shown}"
    );

    // Scoring the run's own evaluation rows again gives the same metrics and the same bytes.
    let again = env.json(&["eval", ia, "--split", "valid", "--predictions", "--json"]);
    assert_eq!(again["splits"]["valid"], a["splits"]["valid"]);
    assert_eq!(
        std::fs::read_to_string(predictions(&env, ia)).unwrap(),
        kept
    );

    let c = env.json(&["compare", ia, ib, "--json", "--resamples", "400"]);
    assert_eq!(c["baseline"], ia);
    assert_eq!(c["runs"][0]["metrics"], a["splits"]["valid"]);
    assert_eq!(c["runs"][1]["from"], "final");
    let diff = &c["differences"][0];
    assert_eq!(diff["run_id"], ib);
    assert!(diff["error"].is_null(), "{diff}");
    let boot = &diff["bootstrap"];
    assert_eq!(boot["resamples"], 400);
    for (group, metric) in [("all", "auc"), ("all", "uauc"), ("cold", "auc")] {
        let d = &boot[group][metric];
        let observed = d["observed"].as_f64().unwrap();
        let want = auc(&b, group, metric) - auc(&a, group, metric);
        assert!(
            (observed - want).abs() < 1e-9,
            "{group} {metric}: {d} vs {want}"
        );
        let (low, high) = (d["low"].as_f64().unwrap(), d["high"].as_f64().unwrap());
        assert!(low <= high, "{d}");
        let p = d["p_value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{d}");
    }
    let seed = c["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "collm.seed")
        .unwrap_or_else(|| panic!("collm.seed not among {}", c["settings"]));
    assert_eq!(seed["values"], serde_json::json!(["42", "7"]));

    // The other way round: the same resamples, the difference negated.
    let back = env.json(&[
        "compare",
        ia,
        ib,
        "--json",
        "--resamples",
        "400",
        "--baseline",
        ib,
    ]);
    let (fwd, rev) = (
        &boot["all"]["auc"]["observed"],
        &back["differences"][0]["bootstrap"]["all"]["auc"]["observed"],
    );
    assert_eq!(back["differences"][0]["run_id"], ia);
    assert!((fwd.as_f64().unwrap() + rev.as_f64().unwrap()).abs() < 1e-12);

    let out = env.output(&["compare", ia, ib, "--resamples", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("give 0 (no intervals) or 100 to 1,000,000"),
        "{err}"
    );
    let text = env.ok(&["compare", ia, ib, "--resamples", "400"]);
    for part in ["all AUC", "paired over users", "collm.seed", "] p"] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }

    // The ensemble of the two: measured on the 64 rows both scored, against each of them.
    let e = env.json(&["ensemble", ia, ib, "--json", "--resamples", "200"]);
    assert_eq!(e["rows"], 64);
    assert_eq!(e["members"][0]["metrics"], a["splits"]["valid"]);
    assert_eq!(e["members"][1]["metrics"], b["splits"]["valid"]);
    let ensemble_auc = e["ensemble"]["metrics"]["all"]["auc"].as_f64().unwrap();
    let d = &e["differences"][1]["bootstrap"]["all"]["auc"];
    let want = ensemble_auc - auc(&b, "all", "auc");
    assert!(
        (d["observed"].as_f64().unwrap() - want).abs() < 1e-9,
        "{d} vs {want}"
    );
    // All the weight on one run ranks the rows as that run does: its AUC, to the bit.
    let one = env.json(&["ensemble", ia, ib, "--json", "--weights", "1,0"]);
    assert_eq!(
        one["ensemble"]["metrics"]["all"]["auc"],
        a["splits"]["valid"]["all"]["auc"]
    );
    let out = env.output(&["ensemble", ia, ib, "--weights", "1,2,3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 weights for 2 runs"));

    // Scores of other rows are refused with the row named (another user, or only another
    // item), and no scores at all with the way out.
    let edited = |line: usize, field: usize, value: &str| {
        let mut lines: Vec<String> = kept.lines().map(str::to_string).collect();
        let mut fields: Vec<&str> = lines[line].split('\t').collect();
        fields[field] = value;
        lines[line] = fields.join("\t");
        std::fs::write(predictions(&env, ib), lines.join("\n") + "\n").unwrap();
    };
    for (line, field, row) in [(3, 0, "row 3 differs"), (5, 1, "row 5 differs")] {
        edited(line, field, "99999");
        let c = env.json(&["compare", ia, ib, "--json"]);
        let error = c["differences"][0]["error"].as_str().unwrap();
        assert!(error.contains(row), "{error}");
    }
    // A score that is not a number is an error of that run, not a crash.
    edited(2, 4, "NaN");
    let out = env.output(&["ensemble", ia, ib]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = format!("{ib}/predictions/valid.tsv:3: field `logit`: `NaN` is not finite");
    assert!(!out.status.success() && stderr.contains(&at), "{stderr}");
    std::fs::remove_file(predictions(&env, ib)).unwrap();
    let text = env.ok(&["compare", ia, ib]);
    assert!(
        text.contains(&format!("run {ib} keeps no per-row scores of `valid`"))
            && text.contains("--predictions"),
        "{text}"
    );

    // A run whose folder went (moved outside collm) is said to be so, not told to score
    // itself again from weights that went with it.
    let folder = env.store().join("runs").join(ib);
    let away = env.dir.path().join("away");
    std::fs::rename(&folder, &away).unwrap();
    let text = env.ok(&["compare", ia, ib, "--resamples", "100"]);
    assert!(
        text.contains(&format!("run {ib}'s folder {} is gone", folder.display()))
            && !text.contains("--predictions"),
        "{text}"
    );
    let shown = env.ok(&["show", ib]);
    assert!(
        shown.contains(&format!(
            "{} is gone (moved or deleted outside collm)",
            folder.display()
        )),
        "{shown}"
    );
    std::fs::rename(&away, &folder).unwrap();

    // A baseline outside the runs compared, or a run named twice, is an error.
    let out = env.output(&["compare", ia, ib, "--baseline", "999999-999999"]);
    assert!(!out.status.success());
    let out = env.output(&["compare", ia, ia]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("named twice"));
}

/// Scores `collm eval --data FILE --predictions` kept are a split `compare` reads (its table
/// shows their metrics, from "kept scores"); a column whose runs scored different rows is
/// refused, and columns of different rows are said to be so.
#[test]
fn compare_reads_kept_scores_and_refuses_a_column_over_different_rows() {
    let env = Env::new();
    let run = |file: &str| -> String {
        let run = env.json(&["run", file, "--json"]);
        run["run_id"].as_str().unwrap().to_string()
    };
    let a = run(QUICK_COLLM_TINY);
    let other = std::fs::read_to_string(QUICK_COLLM_TINY)
        .unwrap()
        .replace("seed = 42", "seed = 7");
    let b = run(path_str(&env.write("tiny-seed7.toml", &other)));
    let quick_mf = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/quick-mf.toml");
    let mf = run(quick_mf);

    let data = env
        .dir
        .path()
        .join("home/data/ml-latest-small/valid_small.tsv");
    let mine = env.dir.path().join("mine.tsv");
    std::fs::copy(data, &mine).unwrap();
    let mut scored = Vec::new();
    for id in [&a, &b] {
        let e = env.json(&[
            "eval",
            id,
            "--data",
            path_str(&mine),
            "--predictions",
            "--json",
        ]);
        scored.push(e["splits"]["mine"].clone());
    }
    let c = env.json(&["compare", &a, &b, "--split", "mine", "--json"]);
    for i in 0..2 {
        assert_eq!(c["runs"][i]["from"], "kept scores");
        assert_eq!(c["runs"][i]["metrics"], scored[i]);
    }
    assert!(c["differences"][0]["error"].is_null(), "{c}");

    // Stage 2 evaluated a sample of valid_small its seed drew: until the final weights score
    // the split, that is what the table shows, and says so.
    let text = env.ok(&[
        "compare",
        &a,
        &b,
        "--split",
        "valid_small",
        "--resamples",
        "0",
    ]);
    for id in [&a, &b] {
        let note =
            format!("note: {id} finished without final scores of valid_small by its best weights");
        assert!(text.contains(&note), "{text}");
    }
    // Kept scores of the final weights outrank the stage's sample: table and test agree.
    let whole: Vec<Value> = [&a, &b]
        .iter()
        .map(|id| {
            let args = [
                "eval",
                id,
                "--split",
                "valid_small",
                "--predictions",
                "--json",
            ];
            env.json(&args)["splits"]["valid_small"].clone()
        })
        .collect();
    let c = env.json(&["compare", &a, &b, "--split", "valid_small", "--json"]);
    for i in 0..2 {
        assert_eq!(c["runs"][i]["from"], "kept scores", "{c}");
        assert_eq!(c["runs"][i]["metrics"], whole[i]);
    }

    // MF scored the whole of valid, the tiny runs a sample of 64 rows.
    let column = format!("{a},{mf}");
    let out = env.output(&["compare", &column, &b]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("its runs scored different numbers of rows of `valid`"),
        "{err}"
    );
    let text = env.ok(&["compare", &a, &mf, "--resamples", "0"]);
    assert!(
        text.contains("note: the columns scored different numbers of rows of valid (64, 3856)"),
        "{text}"
    );
    // The paired test says why it cannot pair them: the counts, not a first differing row.
    let text = env.ok(&["compare", &a, &mf, "--resamples", "100"]);
    assert!(
        text.contains("scored different rows: 64 rows against 3856"),
        "{text}"
    );
}

/// A foundation with dropout (SASRec), its stage 1 reused: re-scoring the final rows with
/// `eval --split` must put every dropout in evaluation mode as the run's own final scoring did,
/// or the kept scores would not repeat to the byte.
#[test]
fn rescoring_a_sasrec_run_repeats_its_kept_scores() {
    let env = Env::new();
    let text = std::fs::read_to_string(QUICK_COLLM_TINY)
        .unwrap()
        .replace(
            "kind = \"mf\"\ndim = 32\ninit_std = 0.1",
            "kind = \"sasrec\"\ndim = 32\nlayers = 2\nheads = 1\ndropout = 0.2\nmaxlen = 25",
        )
        .replace("max_epochs = 20", "max_epochs = 3");
    assert!(text.contains("\"sasrec\""));
    let file = env.write("tiny-sasrec.toml", &text);
    let first = env.json(&["run", path_str(&file), "--json"]);
    let id = first["run_id"].as_str().unwrap();
    let reuse = [format!("cf={id}"), format!("stage1={id}")];
    let run = env.json(&[
        "run",
        path_str(&file),
        "--json",
        "--reuse",
        &reuse[0],
        "--reuse",
        &reuse[1],
    ]);
    let rid = run["run_id"].as_str().unwrap();
    let kept = std::fs::read_to_string(predictions(&env, rid)).unwrap();
    let again = env.json(&["eval", rid, "--split", "valid", "--predictions", "--json"]);
    assert_eq!(again["splits"]["valid"], run["splits"]["valid"]);
    assert_eq!(
        std::fs::read_to_string(predictions(&env, rid)).unwrap(),
        kept
    );
}

/// `RUN:PART`: a CoLLM run's foundation alone (`cf`) and its first stage (TALLRec) as its final
/// evaluation scored them, kept row by row, so the run is measured against its own parts on the
/// same rows; `eval RUN:PART` scores them again to the same bytes.
#[test]
fn a_collm_run_is_compared_with_its_own_parts() {
    let env = Env::new();
    let run = env.json(&["run", QUICK_COLLM_TINY, "--json"]);
    let id = run["run_id"].as_str().unwrap();
    let part_file = |part: &str| {
        env.store()
            .join("runs")
            .join(id)
            .join(format!("predictions/{part}/valid.tsv"))
    };
    let shown = env.ok(&["show", id]);
    let export: Value = serde_json::from_str(&env.ok(&["export", id, "--format", "json"])).unwrap();
    let artifacts = export["record"]["artifacts"].as_array().unwrap().clone();
    let c = env.json(&[
        "compare",
        &format!("{id}:cf"),
        &format!("{id}:stage1"),
        id,
        "--json",
        "--resamples",
        "300",
    ]);
    let froms: Vec<&str> = (0..3)
        .map(|i| c["runs"][i]["from"].as_str().unwrap())
        .collect();
    assert_eq!(froms, ["final-cf", "final-stage1", "final"]);
    assert_eq!(c["runs"][2]["metrics"], run["splits"]["valid"]);
    assert_ne!(c["runs"][0]["metrics"], c["runs"][1]["metrics"]);
    for (i, part) in ["cf", "stage1"].into_iter().enumerate() {
        let kept = std::fs::read_to_string(part_file(part)).unwrap();
        assert_eq!(kept.lines().count(), 65, "{part}");
        assert!(
            shown.contains(&part_file(part).display().to_string()),
            "{shown}"
        );
        // Scored again from the part's own weights: the run's numbers, the run's bytes.
        let target = format!("{id}:{part}");
        let again = env.json(&[
            "eval",
            &target,
            "--split",
            "valid",
            "--predictions",
            "--json",
        ]);
        assert_eq!(again["splits"]["valid"], c["runs"][i]["metrics"], "{part}");
        assert_eq!(std::fs::read_to_string(part_file(part)).unwrap(), kept);
        // Scored otherwise (the LLM in bf16; the foundation scores in f32 either way): reported,
        // but the kept scores, which compare pairs beside the recorded evaluation, stay (they
        // were replaced, and compare's table and test disagreed).
        let args = [
            "eval",
            &target,
            "--split",
            "valid",
            "--predictions",
            "--dtype",
            "bf16",
        ];
        let out = env.output(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        let differ = part == "stage1";
        assert_eq!(out.status.code(), Some(differ as i32), "{part}: {err}");
        assert_eq!(err.contains("it is left as it is"), differ, "{part}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
        assert_eq!(std::fs::read_to_string(part_file(part)).unwrap(), kept);
        // With no kept file (a run from before runs kept them), scores that do not reproduce
        // the recorded evaluation are not kept either; the run's own are.
        std::fs::remove_file(part_file(part)).unwrap();
        let out = env.output(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(differ as i32), "{part}: {err}");
        assert_eq!(err.contains("do not reproduce"), differ, "{part}: {err}");
        assert_eq!(part_file(part).exists(), !differ, "{part}");
        env.ok(&args[..5]);
        assert_eq!(std::fs::read_to_string(part_file(part)).unwrap(), kept);
        // The report is the part's, not the run's: its id, its name, its best step.
        assert_eq!(again["run_id"], target.as_str());
        assert_eq!(again["experiment"], format!("quick-collm-tiny ({part})"));
        let best = artifacts
            .iter()
            .filter(|a| a["stage"] == part && a["best"] == true)
            .max_by_key(|a| a["at_ms"].as_u64())
            .unwrap();
        assert_eq!(again["step"], best["step"], "{part}");
        let line = shown
            .lines()
            .find(|l| l.contains(&format!(" final-{part} valid (64 rows)")));
        let at = format!("at step {}", best["step"]);
        assert!(line.is_some_and(|l| l.ends_with(&at)), "{shown}");
    }
    // Its parts share every setting, and the table says why none differs.
    let text = env.ok(&["compare", &format!("{id}:cf"), id, "--resamples", "0"]);
    assert!(
        text.contains("Settings that differ (0): the columns are parts of one run"),
        "{text}"
    );
    // Paired on the same rows: the final model against the foundation, observed = difference.
    let diff = &c["differences"][1];
    assert_eq!(diff["run_id"], id);
    assert!(diff["error"].is_null(), "{diff}");
    let metric = |i: usize| c["runs"][i]["metrics"]["all"]["auc"].as_f64().unwrap();
    let observed = diff["bootstrap"]["all"]["auc"]["observed"]
        .as_f64()
        .unwrap();
    assert!((observed - (metric(2) - metric(0))).abs() < 1e-9, "{diff}");

    // A split none of them evaluates is refused, naming the ones they have.
    let out = env.output(&["compare", &format!("{id}:cf"), id, "--split", "vaild"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("none of the runs named evaluates split `vaild` (they evaluate: valid"),
        "{err}"
    );

    // The paper's ensemble of CoLLM-MF with its own MF, from one run.
    let e = env.json(&["ensemble", &format!("{id}:cf"), id, "--json"]);
    assert_eq!(e["rows"], 64);
    // Its members named as compare and eval name them: the part says which it is.
    assert_eq!(e["members"][0]["run_id"], format!("{id}:cf"));
    assert_eq!(e["members"][0]["experiment"], "quick-collm-tiny (cf)");

    // The prompt inspector shows a stage as it was scored: stage 1 reads the text prompt, with
    // no ID slot; the final model the hybrid one; the foundation alone reads none.
    let slots = |target: &str| {
        let view = env.json(&["prompt", target, "--user", "1", "--json"]);
        assert!(view["p_yes"].as_f64().is_some(), "{view}");
        view["slots"].as_array().unwrap().len()
    };
    assert_eq!(slots(&format!("{id}:stage1")), 0);
    assert_eq!(slots(id), 2);
    let out = env.output(&["prompt", &format!("{id}:cf"), "--user", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("reads no prompt"));

    // The last stage is the final model itself; a part the run lacks is named with the others.
    let out = env.output(&["compare", id, &format!("{id}:stage2")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("named twice"));
    let out = env.output(&["compare", id, &format!("{id}:stage9")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no part `stage9`") && stderr.contains("cf, stage1, stage2"),
        "{stderr}"
    );
}

/// `A,B` is one column: the same setting over seeds, its metrics the runs' means and its
/// difference from the baseline the mean of the seed-by-seed differences, resampled over users
/// and seeds. Checked against the runs' own records and a sweep's mean over the same seeds.
#[test]
fn a_column_of_seeds_is_their_mean_paired_seed_by_seed() {
    let env = Env::new();
    let sweep = env.json(&[
        "sweep",
        QUICK_COLLM_TINY,
        "--grid",
        "collm.stages.1.lr=1e-2,5e-3",
        "--seeds",
        "collm.seed=1,2",
        "--json",
    ]);
    let ids = |setting: usize| -> Vec<String> {
        sweep["settings"][setting]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (a, b) = (ids(0), ids(1));
    let (col_a, col_b) = (a.join(","), b.join(","));
    let record_auc = |id: &str| -> f64 { auc(&env.json(&["show", id, "--json"]), "all", "auc") };

    let c = env.json(&["compare", &col_a, &col_b, "--json", "--resamples", "300"]);
    assert_eq!(c["baseline"], col_a.as_str());
    assert_eq!(c["runs"][1]["run_id"], col_b.as_str());
    // A column's AUC is its runs' mean: the sweep's mean for that setting, to the bit's noise.
    for (i, ids) in [&a, &b].into_iter().enumerate() {
        let mean = ids.iter().map(|id| record_auc(id)).sum::<f64>() / 2.0;
        let shown = c["runs"][i]["metrics"]["all"]["auc"].as_f64().unwrap();
        assert!((shown - mean).abs() < 1e-12, "{shown} vs {mean}");
        let swept = &sweep["settings"][i]["report"][0];
        assert_eq!(
            (&swept["group"], &swept["metric"]),
            (&"all".into(), &"AUC".into())
        );
        assert!((swept["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    }
    let boot = &c["differences"][0]["bootstrap"];
    assert_eq!(boot["runs"], 2);
    let by_seed: f64 = (0..2)
        .map(|s| record_auc(&b[s]) - record_auc(&a[s]))
        .sum::<f64>()
        / 2.0;
    let observed = boot["all"]["auc"]["observed"].as_f64().unwrap();
    assert!(
        (observed - by_seed).abs() < 1e-12,
        "{observed} vs {by_seed}"
    );
    // What differs between the columns, and what only within them.
    let keys: Vec<&str> = c["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"collm.stages.1.lr"), "{keys:?}");
    assert!(
        !keys.contains(&"collm.seed"),
        "the first runs share seed 1: {keys:?}"
    );
    let within = c["varies_within"].as_array().unwrap();
    assert!(within.contains(&"collm.seed".into()), "{within:?}");

    // A column as the baseline: the same resamples, the difference negated.
    let back = env.json(&[
        "compare",
        &col_a,
        &col_b,
        "--json",
        "--resamples",
        "300",
        "--baseline",
        &col_b,
    ]);
    assert_eq!(back["differences"][0]["run_id"], col_a.as_str());
    let rev = back["differences"][0]["bootstrap"]["all"]["auc"]["observed"]
        .as_f64()
        .unwrap();
    assert!((observed + rev).abs() < 1e-12);

    let text = env.ok(&["compare", &col_a, &col_b, "--resamples", "300"]);
    for part in [
        format!("{}+1 is the mean of {col_a}", a[0]),
        "quick-collm-tiny stages.1.lr=0.01 (mean of 2)".to_string(),
        "over the columns' runs, i-th with i-th".to_string(),
        "Within a column (first run's value above): collm.seed".to_string(),
    ] {
        assert!(text.contains(&part), "{part} missing from:\n{text}");
    }

    // Columns of different sizes cannot be paired (said, not a crash); `ensemble` takes runs
    // one by one.
    let c = env.json(&["compare", &col_a, &b[0], "--json"]);
    let error = c["differences"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("one side holds 2 runs, the other 1"),
        "{error}"
    );
    let out = env.output(&["ensemble", &col_a, &b[0]]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is for `collm compare`"), "{stderr}");
    let out = env.output(&["compare", &col_a, &a[1]]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("named twice"));
}
