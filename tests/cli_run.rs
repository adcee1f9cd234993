//! `collm run`, `runs`, `show`, `export`, `eval` (and `model`, `bench llm`) through the built
//! binary: the JSON schema, learning above chance, and one evaluation object shared by all
//! commands.

mod common;

use common::{mf_experiment, path_str, Env, ML1M, QUICK_COLLM_TINY};
use serde_json::Value;

const GROUP_KEYS: [&str; 5] = ["auc", "uauc", "logloss", "rows", "users_counted"];

fn check_split(split: &Value, rows: u64) {
    for group in ["all", "warm", "cold"] {
        let g = &split[group];
        let keys: Vec<&str> = g.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = GROUP_KEYS.to_vec();
        expected.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected, "{group}: {g}");
    }
    let all = &split["all"];
    assert_eq!(all["rows"].as_u64(), Some(rows));
    assert_eq!(
        split["warm"]["rows"].as_u64().unwrap() + split["cold"]["rows"].as_u64().unwrap(),
        rows
    );
    assert!(all["users_counted"].as_u64().unwrap() > 0);
    assert!(all["logloss"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_reports_every_split_and_the_other_commands_agree() {
    let env = Env::new();
    let text = mf_experiment("mf-small", 6, 6, 0.01).replace(
        "[evaluation]\n",
        "[evaluation]\nranking = { k = 10, negatives = 50 }\n",
    );
    let exp = env.write("mf-small.toml", &text);
    let run = env.json(&["run", path_str(&exp), "--json"]);
    let id = run["run_id"].as_str().unwrap().to_string();
    assert_eq!(run["experiment"], "mf-small");
    assert_eq!(run["status"], "finished");
    assert!(run["error"].is_null());
    assert!(run["step"].as_u64().unwrap() > 0);
    let splits = run["splits"].as_object().unwrap();
    assert_eq!(
        splits.keys().collect::<Vec<_>>(),
        vec!["valid", "valid_small"]
    );
    check_split(&run["splits"]["valid"], 10401);
    check_split(&run["splits"]["valid_small"], 5200);
    let auc = run["splits"]["valid"]["all"]["auc"].as_f64().unwrap();
    assert!(auc > 0.5, "valid AUC {auc}");
    let ranking = &run["splits"]["valid"]["ranking"];
    assert_eq!(
        (ranking["k"].as_u64(), ranking["negatives"].as_u64()),
        (Some(10), Some(50))
    );
    assert!(ranking["positives"].as_u64().unwrap() > 1000, "{ranking}");
    let recall = ranking["recall"].as_f64().unwrap();
    // Better than a random order of 51 candidates (recall@10 = 10/51).
    assert!(recall > 10.0 / 51.0 && recall <= 1.0, "{ranking}");

    // `show --json` is the same object.
    let shown = env.json(&["show", &id, "--json"]);
    assert_eq!(shown, run);
    let text = env.ok(&["show", &id[..id.len() - 2]]);
    assert!(
        text.contains("results (best weights)") && text.contains("valid_small"),
        "{text}"
    );
    // Each best evaluation says how many rows it is of.
    assert!(
        text.lines()
            .any(|l| l.starts_with("best") && l.contains(" valid (10401 rows): auc ")),
        "{text}"
    );

    // `runs` lists it with its headline AUC.
    let runs = env.json(&["runs", "--json"]);
    let line = &runs.as_array().unwrap()[0];
    assert_eq!(
        (line["run_id"].as_str(), line["status"].as_str()),
        (Some(id.as_str()), Some("finished"))
    );
    assert_eq!(line["auc"].as_f64(), Some(auc));
    assert_eq!(line["auc_rows"].as_u64(), Some(10401), "the whole of valid");
    // Its key settings, seed included: replicates differ by it alone.
    let key_settings = "mf d16 lr=0.01 bs=2048 ep=6 seed=2023";
    assert_eq!(line["settings"].as_str(), Some(key_settings));
    let table = env.ok(&["runs"]);
    assert!(table.lines().next().unwrap().starts_with("id"), "{table}");
    assert!(
        table.contains(&id) && table.contains(&format!("{auc:.4}")),
        "{table}"
    );
    assert!(
        table.lines().nth(1).unwrap().ends_with(key_settings),
        "{table}"
    );

    // `export`: one CSV row per evaluation and group; JSON holds steps and evaluations.
    let full = env.json(&["export", &id, "--format", "json"]);
    let evals = full["evals"].as_array().unwrap().len();
    assert_eq!(
        evals,
        6 + 2,
        "6 epochs on valid, then the final valid and valid_small"
    );
    let steps = full["steps"].as_array().unwrap().len();
    assert_eq!(
        steps,
        6 * 17,
        "33891 train rows in batches of 2048, 6 epochs"
    );
    assert_eq!(full["record"]["steps"].as_u64(), Some(steps as u64));
    let csv = env.ok(&["export", &id, "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "run,stage,step,split,group,auc,uauc,logloss,rows,users_counted"
    );
    assert_eq!(lines.len(), 1 + 3 * evals);
    assert!(lines
        .iter()
        .any(|l| l.starts_with(&format!("{id},final,")) && l.contains(",valid,all,")));

    // `eval` of the same file with the same weights gives the same numbers.
    let valid = format!("{ML1M}/valid.tsv");
    let items = format!("{ML1M}/items.tsv");
    let scored = env.json(&["eval", &id, "--data", &valid, "--items", &items, "--json"]);
    assert_eq!(scored["run_id"], run["run_id"]);
    let small = env.json(&[
        "eval",
        &id,
        "--data",
        &format!("{ML1M}/valid_small.tsv"),
        "--json",
    ]);
    // A file flagged by another warm definition (here: every row warm) is scored by its own
    // flags, with a note saying how many rows differ from the dataset's (3,792 are cold).
    let all_warm: String = std::fs::read_to_string(&valid)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut fields: Vec<&str> = line.split('\t').collect();
            if i > 0 {
                fields[4] = "1";
            }
            fields.join("\t") + "\n"
        })
        .collect();
    let file = env.write("all_warm.tsv", &all_warm);
    let out = env.output(&["eval", &id, "--data", path_str(&file), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3792 of 10401 rows are flagged `warm` otherwise than"),
        "{stderr}"
    );
    let flagged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(flagged["splits"]["all_warm"]["cold"]["rows"], 0);
    let own = env.output(&["eval", &id, "--data", &valid, "--json"]);
    assert!(!String::from_utf8_lossy(&own.stderr).contains("flagged"));
    for group in ["all", "warm", "cold"] {
        assert_eq!(
            scored["splits"]["valid"][group],
            run["splits"]["valid"][group]
        );
        assert_eq!(
            small["splits"]["valid_small"][group],
            run["splits"]["valid_small"][group]
        );
    }
}

#[test]
fn eval_names_the_bad_line_of_a_split_file() {
    let env = Env::new();
    let exp = env.write("tiny.toml", &mf_experiment("tiny", 1, 1, 0.01));
    let run = env.json(&["run", path_str(&exp), "--json"]);
    let id = run["run_id"].as_str().unwrap();
    let bad = env.write(
        "bad.tsv",
        "uid\tiid\tlabel\ttimestamp\twarm\this\n1\t2\t1\t978300760\t1\t\n3\tx\t0\t978300760\t1\t\n",
    );
    let out = env.output(&["eval", id, "--data", path_str(&bad)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3", bad.display())) && err.contains("iid"),
        "{err}"
    );
    // --items goes with --data only: beside --split it would be ignored.
    let out = env.output(&["eval", id, "--split", "valid", "--items", path_str(&bad)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    let out = env.output(&["eval", "nosuchrun", "--data", path_str(&bad)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run `nosuchrun`"));
    // A user the model has no vector for: named by line and field, after a blank line.
    let stranger = env.write(
        "stranger.tsv",
        "uid\tiid\tlabel\ttimestamp\twarm\this\n1\t2\t1\t978300760\t1\t\n\n999999\t2\t0\t978300760\t0\t\n",
    );
    let out = env.output(&["eval", id, "--data", path_str(&stranger)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(&format!(
                "{}:4: field `uid`: user 999999",
                stranger.display()
            )),
        "{err}"
    );
    // The prompt inspector has nothing to show for a collaborative model alone.
    let out = env.output(&["prompt", id, "--user", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is a `kind = \"cf\"` run: it has no LLM"),
        "{err}"
    );
    // A store moved elsewhere scores with the weights in its own run folder, not with the path
    // the record was written at (gone now, or another store's).
    let valid = env.json(&["eval", id, "--split", "valid", "--json"]);
    let moved = env.dir.path().join("moved");
    std::fs::rename(env.store(), &moved).unwrap();
    let again = env.json_in_store(
        path_str(&moved),
        &["eval", id, "--split", "valid", "--json"],
    );
    assert_eq!(again["splits"], valid["splits"]);
}

#[test]
fn commands_that_read_runs_do_not_make_a_store_where_a_mistyped_path_points() {
    let env = Env::new();
    for args in [
        &["runs"][..],
        &["show", "abc"],
        &["export", "abc", "--format", "csv"],
        &["compare", "abc", "def"],
        &["delete", "abc", "--yes"],
        &["resume", "abc"],
        &["eval", "abc", "--split", "valid"],
        &["bench", "tui", "--frames", "1"],
    ] {
        let out = env.output(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains(&format!("no store at {}", env.store().display())),
            "collm {args:?}: {err}"
        );
        assert!(!env.store().exists(), "collm {args:?} made a store");
    }
    // A sweep's dry run plans against no runs, and makes no store either.
    let plan = env.ok(&[
        "sweep",
        QUICK_COLLM_TINY,
        "--seeds",
        "collm.seed=1,2",
        "--dry-run",
    ]);
    assert!(plan.contains("seed=2"), "{plan}");
    assert!(!env.store().exists(), "the dry run made a store");
    // Without --store, the default store not made yet lists as empty, and stays unmade.
    let home = env.dir.path().join("home");
    let out = env.home_cmd().args(["runs"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no runs in"));
    assert!(!home.join("store").exists());
    // A home that is a file is a mistake, not a home without runs.
    std::fs::write(&home, "").unwrap();
    for args in [&["runs"][..], &["model", "list"]] {
        let out = env.home_cmd().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains(&format!(
                    "the collm home {} is not a folder",
                    home.display()
                )),
            "collm {args:?}: {err}"
        );
    }
}

#[test]
fn the_built_in_tiny_model_is_listed_and_benched_without_a_pull() {
    let env = Env::new();
    let list = env.ok(&["model", "list"]);
    let tiny = list.lines().find(|l| l.contains("tiny-random"));
    assert!(tiny.is_some_and(|l| l.contains("built in")), "{list}");
    let out = env.output(&["model", "pull", "tiny-random"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to pull"));
    let bench = env.json(&[
        "bench",
        "llm",
        "--model",
        "tiny-random",
        "--batch",
        "2",
        "--tokens",
        "16",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--json",
    ]);
    assert_eq!(bench["model"], "tiny-random");
    assert_eq!(
        (bench["batch"].as_u64(), bench["tokens"].as_u64()),
        (Some(2), Some(16))
    );
    for rate in ["eval_samples_per_s", "train_samples_per_s"] {
        assert!(bench[rate].as_f64().is_some_and(|r| r > 0.0), "{bench}");
    }
    // The prefix cache's bench: a stage-2 step of ML-1M hybrid prompts each way, the same loss.
    let cache = env.json(&[
        "bench",
        "cache",
        "--model",
        "tiny-random",
        "--steps",
        "1",
        "--batch",
        "2",
        "--json",
    ]);
    assert_eq!(cache["batch_size"].as_u64(), Some(2), "{cache}");
    for secs in ["uncached_step_secs", "cached_step_secs"] {
        assert!(cache[secs].as_f64().is_some_and(|s| s > 0.0), "{cache}");
    }
    assert!(
        cache["first_loss_diff"].as_f64().is_some_and(|d| d < 1e-4),
        "{cache}"
    );
    for key in [
        "device",
        "dtype",
        "threads",
        "cached_samples_per_s",
        "peak_rss_mb",
    ] {
        assert!(!cache[key].is_null(), "{key} missing: {cache}");
    }
    // Nothing was pulled into the (empty) models folder.
    assert!(!env.dir.path().join("home/models/registry.json").exists());
}

/// Shapes a bench cannot run are refused with the reason, not aborted on a failed allocation,
/// and a step is never timed as a batch it did not hold.
#[test]
fn the_benches_refuse_shapes_they_cannot_run_or_would_misreport() {
    let env = Env::new();
    let fails = |args: &[&str], want: &str| {
        let out = env.output(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    };
    let tiny = ["--model", "tiny-random"];
    let llm = |shape: &[&'static str]| [&["bench", "llm"][..], &tiny, shape].concat();
    fails(
        &llm(&["--batch", "4096", "--tokens", "2048"]),
        "GiB for a training step",
    );
    fails(
        &llm(&["--reps", "100000000"]),
        "--reps and --warmup take at most",
    );
    // A dataset of three training rows: one step of four would be a short batch.
    let ml1m = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/ml-1m-collm");
    let small = env.dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    for (file, lines) in [
        ("items.tsv", usize::MAX),
        ("train.tsv", 4),
        ("valid.tsv", 201),
    ] {
        let text = std::fs::read_to_string(format!("{ml1m}/{file}")).unwrap();
        let head: Vec<&str> = text.lines().take(lines).collect();
        std::fs::write(small.join(file), head.join("\n") + "\n").unwrap();
    }
    std::fs::copy(small.join("valid.tsv"), small.join("valid_small.tsv")).unwrap();
    let cache = |batch: &'static str| {
        let data = ["--data", path_str(&small)];
        [
            &["bench", "cache"][..],
            &tiny,
            &data,
            &["--steps", "1", "--batch", batch],
        ]
        .concat()
    };
    fails(&cache("4"), "1 step of 4 rows needs 4 training rows");
    fails(&cache("100000"), "--batch 100000 is not within 1 to 4096");
}

/// `collm import` makes raw MovieLens into a dataset an experiment's `path` names: the same
/// files the embedded default is imported into, a run on it finishes; it replaces only a
/// folder an import made.
#[test]
fn raw_movielens_is_imported_for_an_experiment_to_use() {
    let env = Env::new();
    let raw = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/ml-latest-small"
    );
    let out = env.dir.path().join("mine");
    let said = env.ok(&["import", raw, path_str(&out)]);
    assert!(
        said.contains("(ml-latest layout)") && said.contains("use it with:"),
        "{said}"
    );
    assert!(
        said.contains(&format!("path = \"{}\"", out.display())),
        "{said}"
    );
    // The embedded default is this very data: the same splits, byte for byte.
    let text = mf_experiment("mine", 1, 1, 0.01).replace(ML1M, path_str(&out));
    let run = env.json(&["run", path_str(&env.write("mine.toml", &text)), "--json"]);
    assert_eq!(run["status"], "finished", "{run}");
    let default = env.dir.path().join("home/data");
    env.ok(&[
        "run",
        concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/quick-mf.toml"),
    ]);
    for file in [
        "items.tsv",
        "train.tsv",
        "valid.tsv",
        "valid_small.tsv",
        "test.tsv",
    ] {
        let read = |dir: &std::path::Path| std::fs::read(dir.join(file)).unwrap();
        assert!(
            read(&out) == read(&default.join("ml-latest-small")),
            "{file}"
        );
    }
    // Again into the same folder: replaced. Another source into it, or an import into a
    // folder of one's own: refused.
    env.ok(&["import", raw, path_str(&out), "--seed", "7"]);
    let copy = env.dir.path().join("raw-copy");
    std::fs::create_dir(&copy).unwrap();
    for file in ["ratings.csv", "movies.csv"] {
        std::fs::copy(std::path::Path::new(raw).join(file), copy.join(file)).unwrap();
    }
    let other = env.output(&["import", path_str(&copy), path_str(&out)]);
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        !other.status.success() && err.contains("holds the import of"),
        "{err}"
    );
    let default = env.dir.path().join("home/data/ml-latest-small");
    let on_default = env.output(&["import", raw, path_str(&default)]);
    let err = String::from_utf8_lossy(&on_default.stderr);
    assert!(
        !on_default.status.success() && err.contains("the embedded default's folder"),
        "{err}"
    );
    // Without OUT: beside, never on, the embedded default's folder.
    let said = env.ok(&["import", path_str(&copy)]);
    assert!(said.contains("home/data/imports/raw-copy"), "{said}");
    let own = env.dir.path().join("own");
    std::fs::create_dir(&own).unwrap();
    std::fs::write(own.join("notes.txt"), "mine").unwrap();
    let refused = env.output(&["import", raw, path_str(&own)]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("a folder that no import made"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(own.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// A part taken from another run (`--reuse`) must have been trained on the files this run
/// reads: after the data changed, taking the foundation is refused, naming what changed.
#[test]
fn a_part_trained_on_other_data_is_not_taken() {
    let env = Env::new();
    let data = env.ml1m_copy();
    let text = std::fs::read_to_string(QUICK_COLLM_TINY)
        .unwrap()
        .replace(
            "source = \"embedded\"",
            &format!("path = \"{}\"", data.display()),
        )
        .replace("max_epochs = 20", "max_epochs = 2");
    let exp = env.write("tiny-data.toml", &text);
    let first = env.json(&["run", path_str(&exp), "--json"]);
    let id = first["run_id"].as_str().unwrap();
    let cf = format!("cf={id}");
    // Same data: taken.
    env.ok(&["run", path_str(&exp), "--reuse", &cf]);
    let train = data.join("train.tsv");
    let fewer: String = std::fs::read_to_string(&train)
        .unwrap()
        .lines()
        .take(2000)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&train, fewer).unwrap();
    let out = env.output(&["run", path_str(&exp), "--reuse", &cf]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(&format!("--reuse cf={id}: "))
            && err.contains("it read other data")
            && err.contains("train.tsv changed"),
        "{err}"
    );
    // A source the file names that is not there is reported at its line.
    let named = env.write(
        "named.toml",
        &format!("{text}\n[reuse]\ncf = \"nonexistent\"\n"),
    );
    let out = env.output(&["run", path_str(&named)]);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().count() + 3;
    assert!(
        err.contains(&format!(
            "named.toml:{line}:1: [reuse] cf = \"nonexistent\": no run"
        )),
        "{err}"
    );
    // Scoring the run's split again says the numbers are not its final evaluation's.
    let out = env.output(&["eval", id, "--split", "valid"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "is not what run {id} trained on (train.tsv changed)"
        )),
        "{err}"
    );
    // A sweep whose point ran earlier on the old files refuses, rather than mix the two.
    let out = env.output(&[
        "sweep",
        path_str(&exp),
        "--seeds",
        "collm.seed=42",
        "--dry-run",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("on other data than") && err.contains("collm delete"),
        "{err}"
    );
}

#[test]
fn unknown_key_is_rejected_with_file_line_and_key() {
    let env = Env::new();
    let text = mf_experiment("typo", 1, 1, 0.01).replace("seed = 2023", "seed = 2023\nepochs = 3");
    let exp = env.write("typo.toml", &text);
    let out = env.output(&["run", path_str(&exp), "--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:19:1", exp.display())), "{err}");
    assert!(err.contains("unknown field `epochs`"), "{err}");
    // Nothing was recorded for a file that does not parse.
    assert!(!env.store().exists(), "refused before the store is touched");
}

/// `--device cuda:0` in a build without CUDA: refused before a run exists, saying how to
/// rebuild; a bad `--dtype` is refused by the argument parser.
#[cfg(not(feature = "cuda"))]
#[test]
fn a_device_this_build_lacks_is_refused_before_a_run_exists() {
    let env = Env::new();
    let out = env.output(&["run", QUICK_COLLM_TINY, "--device", "cuda:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("device \"cuda:0\"") && err.contains("scripts/cuda-build.sh"),
        "{err}"
    );
    // Written in the file: said at its line.
    let text = mf_experiment("gpu", 1, 1, 0.01).replace("device = \"cpu\"", "device = \"cuda:0\"");
    let file = env.write("gpu.toml", &text);
    let out = env.output(&["run", path_str(&file)]);
    let err = String::from_utf8_lossy(&out.stderr);
    let at = format!("{}:2:1: invalid input: device \"cuda:0\"", file.display());
    assert!(!out.status.success() && err.contains(&at), "{err}");
    let out = env.output(&["run", QUICK_COLLM_TINY, "--dtype", "fp8"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("\"bf16\""), "{err}");
    assert!(!env.store().exists(), "refused before the store is touched");
}

/// A dataset folder that is not there is refused before a run exists (a CoLLM run would
/// otherwise find out only where it reads the data); one whose files are there but bad fails
/// the run, with the file and line stored as its reason.
#[test]
fn a_missing_dataset_is_refused_and_a_bad_one_fails_the_run_with_the_reason_stored() {
    let env = Env::new();
    let text = mf_experiment("nodata", 1, 1, 0.01).replace(ML1M, "/nonexistent/data");
    let exp = env.write("nodata.toml", &text);
    let out = env.output(&["run", path_str(&exp), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Named at its line in the file, as a parse error would be.
    let line = text.lines().position(|l| l.starts_with("path = ")).unwrap() + 1;
    let at = format!(
        "{}:{line}:1: setting `dataset.path`: /nonexistent/data: no such folder",
        exp.display()
    );
    assert!(err.contains(&at), "{err}");
    assert!(!env.store().exists(), "refused before the store is touched");
    // So is a pretrained foundation's missing weights file (read only after the backbone).
    let set = "collm.slots.cf_weights=/nonexistent/mf.safetensors";
    let out = env.output(&["run", QUICK_COLLM_TINY, "--set", set]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1)
            && err.contains(&format!("with `{set}`: setting `collm.slots.cf_weights`: /nonexistent/mf.safetensors: no such file")),
        "{err}"
    );
    assert!(!env.store().exists(), "refused before the store is touched");
    // And one that is there but not a weights file.
    let garbage = env.write("garbage.safetensors", "garbage");
    let set = format!("collm.slots.cf_weights={}", garbage.display());
    let out = env.output(&["run", QUICK_COLLM_TINY, "--set", &set]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && err.contains("not a safetensors file"),
        "{err}"
    );
    assert!(!env.store().exists(), "refused before the store is touched");

    let data = common::bad_dataset(env.store().parent().unwrap());
    let text = mf_experiment("baddata", 1, 1, 0.01).replace(ML1M, path_str(&data));
    let exp = env.write("baddata.toml", &text);
    let out = env.output(&["run", path_str(&exp), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    let reason = report["error"].as_str().unwrap();
    assert!(reason.contains("train.tsv:2: field `label`"), "{report}");
    // stderr names the reason once, with the run's end, not again as a progress line.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("train.tsv:2: field `label`").count(),
        1,
        "{err}"
    );
    let id = report["run_id"].as_str().unwrap();
    assert_eq!(env.json(&["show", id, "--json"])["status"], "failed");
    // Resuming it on a device this build lacks is refused and leaves it as it was.
    if cfg!(not(feature = "cuda")) {
        let out = env.output(&["resume", id, "--device", "cuda:0"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(1) && err.contains("device \"cuda:0\""),
            "{err}"
        );
        let run = env.json(&["show", id, "--json"]);
        assert_eq!(run["status"], "failed");
        assert!(!run.to_string().contains("resumed on device"), "{run}");
    }
    // Resumed in another precision, its stored experiment says so (compare and sweeps match
    // runs by it).
    env.output(&["resume", id, "--dtype", "bf16"]);
    let run: Value = serde_json::from_str(&env.ok(&["export", id, "--format", "json"])).unwrap();
    let experiment = run["record"]["experiment"].as_str().unwrap();
    assert!(experiment.contains("dtype = \"bf16\""), "{experiment}");
}

/// `eval` of a `cf` run whose best weights were removed says so, naming the file, rather than
/// failing to read it (one check for `eval` and the TUI's prompt inspector).
#[test]
fn eval_of_a_run_whose_weights_are_gone_says_so() {
    let env = Env::new();
    let exp = env.write("gone.toml", &mf_experiment("gone", 1, 1, 0.01));
    let report = env.json(&["run", path_str(&exp), "--json"]);
    let id = report["run_id"].as_str().unwrap();
    let full = env.json(&["export", id, "--format", "json"]);
    let best = full["record"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["best"] == true)
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(&best).unwrap();
    let out = env.output(&["eval", id, "--split", "valid"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1)
            && err.contains(&format!("run {id}: its best weights {best} are gone")),
        "{err}"
    );
}

/// A selection split the data makes useless (one label: no AUC to pick the best epoch by) fails
/// the run naming the setting as `--set` spells it, `training.select_on`, not the collaborative
/// model's own "CF config" field.
#[test]
fn a_selection_split_of_one_label_names_the_setting() {
    let env = Env::new();
    let data = env.store().parent().unwrap().join("one-label");
    std::fs::create_dir_all(&data).unwrap();
    for file in ["items.tsv", "train.tsv", "valid.tsv"] {
        std::fs::copy(std::path::Path::new(ML1M).join(file), data.join(file)).unwrap();
    }
    let valid_small =
        std::fs::read_to_string(std::path::Path::new(ML1M).join("valid_small.tsv")).unwrap();
    let liked: String = valid_small
        .lines()
        .enumerate()
        .filter(|(i, line)| *i == 0 || line.split('\t').nth(2) == Some("1"))
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    std::fs::write(data.join("valid_small.tsv"), liked).unwrap();
    let text = mf_experiment("one-label", 1, 1, 0.01).replace(ML1M, path_str(&data));
    let exp = env.write("one-label.toml", &text);
    let set = ["--set", "training.select_on=valid_small"];
    let out = env.output(&[&["run", path_str(&exp), "--json"][..], &set].concat());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = report["error"].as_str().unwrap();
    assert!(
        reason.starts_with("invalid setting `training.select_on`: split `valid_small`")
            && reason.contains("holds only label 1"),
        "{report}"
    );
}

/// A whole CoLLM run on the built-in tiny LLM (foundation, LoRA stage, cached CIE stage, final
/// evaluation), then `eval` of the finished run on other split files and `prompt` on one row.
#[test]
fn collm_run_on_the_tiny_llm_then_eval_any_split_and_inspect() {
    let env = Env::new();
    let exp = QUICK_COLLM_TINY;
    let out = env.output(&["run", exp, "--json"]);
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "finished", "{run}");
    let id = run["run_id"].as_str().unwrap().to_string();
    check_split(&run["splits"]["valid"], 64);
    // Without a terminal, the log still says how fast each stage goes from its first step on.
    let log = String::from_utf8_lossy(&out.stderr);
    for stage in ["cf", "stage1", "stage2"] {
        let first = log
            .lines()
            .find(|l| l.starts_with(&format!("{stage} step 1/")));
        assert!(
            first.is_some_and(|l| l.contains(": loss ") && l.contains("/step")),
            "no first-step line of {stage} in:\n{log}"
        );
    }
    // Scoring after a stage (minutes with a real backbone) is said as it starts.
    for label in ["final-stage1", "final"] {
        let line = format!("{label}: scoring valid (64 rows)…");
        assert!(log.lines().any(|l| l == line), "no `{line}` in:\n{log}");
    }

    let data = env.dir.path().join("home/data/ml-latest-small");
    for split in ["valid_small", "test"] {
        let file = data.join(format!("{split}.tsv"));
        let lines = std::fs::read_to_string(&file).unwrap().lines().count() as u64;
        let scored = env.json(&["eval", &id, "--data", path_str(&file), "--json"]);
        // Every data line (the header aside) is scored, split into warm and cold.
        check_split(&scored["splits"][split], lines - 1);
        let auc = scored["splits"][split]["all"]["auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auc), "{split}: {auc}");
    }
    // --items: the prompts read that file's titles (a study of titles), the ids stay checked.
    let small = data.join("valid_small.tsv");
    let plain = env.json(&["eval", &id, "--data", path_str(&small), "--json"]);
    let items = std::fs::read_to_string(data.join("items.tsv")).unwrap();
    let renamed: String = items
        .lines()
        .enumerate()
        .map(|(i, line)| match (i, line.split_once('\t')) {
            (0, _) | (_, None) => format!("{line}\n"),
            (_, Some((iid, _))) => format!("{iid}\tUntitled film {iid}\n"),
        })
        .collect();
    let renamed = env.write("renamed-items.tsv", &renamed);
    let args = [
        "eval",
        &id,
        "--data",
        path_str(&small),
        "--items",
        path_str(&renamed),
    ];
    let retitled = env.json(&[&args[..], &["--json"]].concat());
    let logloss = |v: &Value| {
        v["splits"]["valid_small"]["all"]["logloss"]
            .as_f64()
            .unwrap()
    };
    assert_ne!(
        logloss(&plain),
        logloss(&retitled),
        "the titles changed nothing"
    );
    // A file named like the run's own split never replaces that split's kept scores, even with
    // the same rows (its histories or times may differ, and those change what a model scores).
    let kept = env.store().join(format!("runs/{id}/predictions/valid.tsv"));
    let before = std::fs::read(&kept).unwrap();
    let copy = env.dir.path().join("mine/valid.tsv");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    // Nor one that differs in case only (one file where case is ignored), nor a hidden name.
    let upper = env.dir.path().join("mine/VALID.tsv");
    let hidden = env.dir.path().join("mine/.tsv");
    for (file, why) in [
        (&copy, "`valid` is split `valid` of the run's dataset"),
        (&upper, "`VALID` is split `valid` of the run's dataset"),
        (&hidden, "would be a hidden file"),
    ] {
        std::fs::copy(data.join("valid.tsv"), file).unwrap();
        let out = env.output(&["eval", &id, "--data", path_str(file), "--predictions"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{err}");
    }
    assert_eq!(std::fs::read(&kept).unwrap(), before);
    let folder = kept.parent().unwrap();
    assert!(!folder.join("VALID.tsv").exists() && !folder.join(".tsv.tsv").exists());

    let view = env.json(&["prompt", &id, "--user", "1", "--json"]);
    assert_eq!(view["uid"], 1);
    let tokens = view["tokens"].as_array().unwrap();
    let slots = view["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2, "{view}");
    for slot in slots {
        let at = slot["start"].as_u64().unwrap() as usize;
        assert!(tokens[at]["slot"].is_string(), "{slot}");
    }
    let p = view["p_yes"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0, "{p}");
}

/// `--reuse`: a second tiny CoLLM run takes the foundation and stage 1 from the first, with their
/// weights and events, and trains only stage 2; a source that computed something else is refused
/// before any run is created.
#[test]
fn collm_run_reuses_the_foundation_and_stage_one_of_another_run() {
    let env = Env::new();
    let exp = QUICK_COLLM_TINY;
    let first = env.json(&["run", exp, "--json"]);
    let id = first["run_id"].as_str().unwrap().to_string();
    let (cf, stage1) = (format!("cf={id}"), format!("stage1={}", &id[..8]));
    let second = env.json(&["run", exp, "--json", "--reuse", &cf, "--reuse", &stage1]);
    assert_eq!(second["status"], "finished", "{second}");
    let rid = second["run_id"].as_str().unwrap().to_string();

    // A foundation trained by another recipe comes with it: the run records the source's
    // `[training]` (seed 2023), not the one it was given (seed 7), so that no sweep or
    // comparison takes it for a foundation trained the given way.
    let short = [
        "--set",
        "training.seed=7",
        "--set",
        "collm.stages.0.max_steps=1",
        "--set",
        "collm.stages.1.max_steps=1",
    ];
    let other = env.json(&[&["run", exp, "--json", "--reuse", &cf][..], &short].concat());
    let oid = other["run_id"].as_str().unwrap();
    let stored: Value =
        serde_json::from_str(&env.ok(&["export", oid, "--format", "json"])).unwrap();
    let text = stored["record"]["experiment"].as_str().unwrap();
    let training: toml::Value = toml::from_str::<toml::Value>(text).unwrap()["training"].clone();
    assert_eq!(training["seed"].as_integer(), Some(2023), "{text}");
    // Stages whose names sort before `cf` are checked against the [training] the foundation
    // brings, as any other: both stages of a run like it are taken from it.
    let names = [
        "--set",
        "collm.stages.0.name=align",
        "--set",
        "collm.stages.1.name=bind",
    ];
    let named = [&names[..], &short].concat();
    let first_named = env.json(&[&["run", exp, "--json", "--reuse", &cf][..], &named].concat());
    let fid = first_named["run_id"].as_str().unwrap().to_string();
    let (align, bind) = (format!("align={fid}"), format!("bind={fid}"));
    let second_named = env.json(
        &[
            &[
                "run", exp, "--json", "--reuse", &cf, "--reuse", &align, "--reuse", &bind,
            ][..],
            &named,
        ]
        .concat(),
    );
    assert_eq!(second_named["status"], "finished", "{second_named}");

    let run_dir = |run: &str| env.store().join("runs").join(run);
    // The same tensors, bit for bit (the files' metadata maps are in hash order).
    for file in ["cf/best.safetensors", "stage1/best/lora.safetensors"] {
        let tensors = |run: &str| -> std::collections::BTreeMap<String, Vec<u32>> {
            let path = run_dir(run).join(file);
            candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
                .unwrap()
                .into_iter()
                .map(|(name, t)| {
                    let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    (name, values.iter().map(|v| v.to_bits()).collect())
                })
                .collect()
        };
        let (a, b) = (tensors(&id), tensors(&rid));
        assert!(!a.is_empty() && a == b, "{file} differs");
    }
    let export = |run: &str| -> Value {
        serde_json::from_str(&env.ok(&["export", run, "--format", "json"])).unwrap()
    };
    let (a, b) = (export(&id), export(&rid));
    // The points of `stage`, without their time stamps.
    let points = |v: &Value, kind: &str, stage: &str| -> Vec<Value> {
        let mut out: Vec<Value> = v[kind]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stage"] == stage)
            .cloned()
            .collect();
        for p in &mut out {
            p.as_object_mut().unwrap().remove("at_ms");
        }
        out
    };
    for stage in ["cf", "stage1", "final-stage1"] {
        for kind in ["steps", "evals"] {
            assert_eq!(
                points(&a, kind, stage),
                points(&b, kind, stage),
                "{stage} {kind}"
            );
        }
    }
    assert!(!points(&b, "steps", "stage1").is_empty());
    assert!(!points(&b, "evals", "final-stage1").is_empty());
    // The foundation taken is a stage of the run, as trained here, with its best weights.
    let names = |v: &Value, what: &str, key: &str| -> Vec<String> {
        v["record"][what]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[key].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&b, "stages", "name"), names(&a, "stages", "name"));
    // So is stage 1's (the run's `show` listed no artifact for it).
    for weights in ["cf/best.safetensors", "stage1/best"] {
        let path = run_dir(&rid).join(weights);
        assert!(
            names(&b, "artifacts", "path").contains(&path.display().to_string()),
            "{weights}: {}",
            b["record"]["artifacts"]
        );
    }
    // The replayed final evaluation of stage 1 brings its per-row scores: `RUN:stage1` pairs.
    let part_scores =
        |run: &str| std::fs::read_to_string(run_dir(run).join("predictions/stage1/valid.tsv"));
    assert_eq!(part_scores(&rid).unwrap(), part_scores(&id).unwrap());
    assert_eq!(
        points(&b, "steps", "stage2").len(),
        8,
        "stage 2 trains here"
    );
    let log = b["record"]["log"].to_string();
    assert!(
        log.contains(&format!("stage1 taken from run {id}")),
        "{log}"
    );
    let experiment = b["record"]["experiment"].as_str().unwrap();
    assert!(
        experiment.contains("[reuse]") && experiment.contains(&id),
        "{experiment}"
    );

    // Refused before a run exists: a later stage alone, and a source whose stage 1 differs.
    let runs_before = env.json(&["runs", "--json"]).as_array().unwrap().len();
    let refused = |args: &[&str], expected: &str| {
        let out = env.output(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expected), "{err}");
    };
    let stage2 = format!("stage2={id}");
    refused(&["run", exp, "--reuse", &stage2], "stage1 is trained here");
    // One flag given twice: neither silently wins.
    let stage1 = format!("stage1={id}");
    refused(
        &["run", exp, "--reuse", &stage1, "--reuse", "stage1=other"],
        "--reuse stage1 is given twice",
    );
    refused(
        &[
            "run",
            exp,
            "--set",
            "training.lr=1e-2",
            "--set",
            "training.lr=1e-3",
        ],
        "--set training.lr is given twice (0.01, then 1e-3)",
    );
    let text = std::fs::read_to_string(exp)
        .unwrap()
        .replacen("lr = 2e-3", "lr = 3e-3", 1);
    let other = env.write("other-lr.toml", &text);
    refused(
        &["run", path_str(&other), "--reuse", &stage1],
        "`collm.stages.0.lr` differs",
    );
    assert_eq!(
        env.json(&["runs", "--json"]).as_array().unwrap().len(),
        runs_before
    );
}

/// The tiny CoLLM experiment cut to two steps a stage and fewer rows (bf16 takes candle's slower
/// composed ops on the CPU), written into `env`.
fn short_tiny_collm(env: &Env) -> std::path::PathBuf {
    let text = std::fs::read_to_string(QUICK_COLLM_TINY)
        .unwrap()
        .replace("max_epochs = 20", "max_epochs = 2")
        .replace("max_steps = 8", "max_steps = 2")
        .replace("eval_every = 4", "eval_every = 2")
        .replace("eval_rows = 32", "eval_rows = 8")
        .replace("rows = 64", "rows = 16");
    env.write("tiny-short.toml", &text)
}

/// `collm export --format json` of a run's report object.
fn export_of(env: &Env, run: &Value) -> Value {
    let id = run["run_id"].as_str().unwrap();
    serde_json::from_str(&env.ok(&["export", id, "--format", "json"])).unwrap()
}

/// The training losses of `stage`, in step order.
fn losses(export: &Value, stage: &str) -> Vec<f64> {
    export["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stage"] == stage)
        .map(|p| p["loss"].as_f64().unwrap())
        .collect()
}

/// One experiment run twice, in two processes, trains to the same bits: same losses at every
/// step (LoRA dropout included: its masks are seeded by the experiment) and the same metrics.
#[test]
fn a_collm_run_repeats_exactly() {
    let env = Env::new();
    let exp = short_tiny_collm(&env);
    let runs: Vec<Value> = (0..2)
        .map(|_| env.json(&["run", path_str(&exp), "--json"]))
        .collect();
    let (a, b) = (export_of(&env, &runs[0]), export_of(&env, &runs[1]));
    for stage in ["cf", "stage1", "stage2"] {
        let (la, lb) = (losses(&a, stage), losses(&b, stage));
        assert!(la.len() >= 2, "{stage}: {la:?}");
        assert_eq!(la, lb, "{stage}");
    }
    assert_eq!(runs[0]["splits"], runs[1]["splits"]);
}

/// The GPU's precision on the CPU: the tiny CoLLM run with `--dtype bf16` (bf16 base, f32 LoRA,
/// CIE, optimizer and loss) trains every stage and records its dtype; its first training loss
/// of each stage, before any update, equals the f32 run's within bf16's rounding.
#[test]
fn collm_run_in_bf16_trains_like_f32() {
    let env = Env::new();
    let exp = short_tiny_collm(&env);
    let exp = path_str(&exp);
    let f32_run = env.json(&["run", exp, "--json"]);
    let bf16_run = env.json(&["run", exp, "--json", "--dtype", "bf16"]);
    assert_eq!(bf16_run["status"], "finished", "{bf16_run}");
    check_split(&bf16_run["splits"]["valid"], 16);
    let (a, b) = (export_of(&env, &f32_run), export_of(&env, &bf16_run));
    let experiment = b["record"]["experiment"].as_str().unwrap();
    assert!(experiment.contains("dtype = \"bf16\""), "{experiment}");
    for stage in ["stage1", "stage2"] {
        let (la, lb) = (losses(&a, stage), losses(&b, stage));
        assert_eq!(lb.len(), 2, "{stage}: {lb:?}");
        assert!(lb.iter().all(|l| l.is_finite()), "{stage}: {lb:?}");
        let rel = (la[0] - lb[0]).abs() / la[0].abs();
        assert!(
            rel < 0.05,
            "{stage}: first loss f32 {} bf16 {}",
            la[0],
            lb[0]
        );
    }
}

#[test]
fn a_store_named_relative_to_the_working_directory_serves_a_collm_run() {
    // Once, `--store st` wrote the foundation's weights to `st/...` and read them back from
    // `/st/...`: paths kept in the records must not depend on the working directory.
    let env = Env::new();
    let exp = short_tiny_collm(&env);
    let run = env.json_in_store("relative-store", &["run", path_str(&exp), "--json"]);
    assert_eq!(run["status"], "finished");
    assert!(env.dir.path().join("relative-store/runs").is_dir());
}

#[test]
fn a_soft_prompt_run_tunes_one_prompt_for_everyone() {
    let env = Env::new();
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/prompts/softprompt_movie.txt"
    );
    let template_set = format!("collm.prompt.hybrid_template={template}");
    let run = env.json(&[
        "run",
        path_str(&short_tiny_collm(&env)),
        "--set",
        "collm.slots.kind=soft_prompt",
        "--set",
        "collm.prompt.proj_token_num=3",
        "--set",
        &template_set,
        "--set",
        "collm.stages.1.train=[\"lora\", \"mapping\"]",
        "--json",
    ]);
    assert_eq!(run["status"], "finished", "{run}");
    let id = run["run_id"].as_str().unwrap();
    let full = env.json(&["export", id, "--format", "json"]);
    let log = full["record"]["log"].to_string();
    assert!(
        !log.contains("training the foundation"),
        "no CIE, no foundation: {log}"
    );

    // Two users, one prompt: the same three tokens in each slot, tuned away from their start.
    let slot = |target: &str, uid: &str| {
        let view = env.json(&["prompt", target, "--user", uid, "--json"]);
        let user = view["slots"][0].clone();
        assert_eq!(
            user["source"], "soft prompt (the same for everyone)",
            "{user}"
        );
        assert_eq!(user["len"], 3, "{user}");
        assert!(view["text"].as_str().unwrap().contains("[SEP]"));
        user["embedding_norm"].as_f64().unwrap()
    };
    assert_eq!(slot(id, "1"), slot(id, "2"));
    let file = env.write("soft.toml", full["record"]["experiment"].as_str().unwrap());
    assert_ne!(slot(id, "1"), slot(path_str(&file), "1"), "untrained");
}

/// The tiny experiment without a foundation or ID slots (`[collm.slots] kind = "none"`), with
/// `stages` in place of its two stage tables.
fn tiny_without_slots(env: &Env, file: &str, stages: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(QUICK_COLLM_TINY).unwrap();
    let (head, rest) = text.split_once("[[collm.stages]]").unwrap();
    let evaluation = &rest[rest.find("[evaluation]").unwrap()..];
    let head = head.replace(
        "seed = 42\n",
        "seed = 42\nstages = []\n\n[collm.slots]\nkind = \"none\"\n",
    );
    let head = if stages.is_empty() {
        head
    } else {
        head.replace("stages = []\n", "")
    };
    env.write(file, &format!("{head}\n{stages}\n{evaluation}"))
}

/// The ICL baseline: an experiment with no stages scores the backbone as it comes, on the text
/// prompt. That is exactly what a LoRA stage that cannot move (every learning rate 0) leaves
/// behind, so the two runs' per-row scores must be the same to the bit (scored in batches of
/// one size: the stage's `eval_batch_size` is the default a run without stages scores with).
#[test]
fn a_run_without_stages_scores_the_untuned_backbone() {
    let env = Env::new();
    let zero_shot = env.json(&[
        "run",
        path_str(&tiny_without_slots(&env, "zero-shot.toml", "")),
        "--json",
    ]);
    assert_eq!(zero_shot["status"], "finished", "{zero_shot}");
    check_split(&zero_shot["splits"]["valid"], 64);
    let frozen_stage = "[[collm.stages]]\nprompt = \"text\"\ntrain = [\"lora\"]\n\
        lr = 0.0\nwarmup_lr = 0.0\nmin_lr = 0.0\nwarmup_steps = 1\nmax_steps = 2\n\
        batch_size = 8\neval_every = 2\neval_batch_size = 64\ntrain_rows = 16\neval_rows = 8\n";
    let frozen = env.json(&[
        "run",
        path_str(&tiny_without_slots(&env, "lr0.toml", frozen_stage)),
        "--json",
    ]);
    assert_eq!(frozen["status"], "finished", "{frozen}");

    let scores = |run: &Value| {
        let id = run["run_id"].as_str().unwrap();
        std::fs::read_to_string(env.store().join(format!("runs/{id}/predictions/valid.tsv")))
            .unwrap()
    };
    assert_eq!(scores(&zero_shot), scores(&frozen));
    assert_eq!(zero_shot["splits"], frozen["splits"]);

    let full = export_of(&env, &zero_shot);
    assert!(losses(&full, "stage1").is_empty());
    let log = full["record"]["log"].to_string();
    assert!(log.contains("zero-shot"), "{log}");
    assert!(!log.contains("training the foundation"), "{log}");
    // The finished run serves the inspector like any other: its text prompt, scored.
    let id = zero_shot["run_id"].as_str().unwrap();
    let view = env.json(&["prompt", id, "--user", "1", "--json"]);
    assert!(view["slots"].as_array().unwrap().is_empty(), "{view}");
    assert!(view["p_yes"].as_f64().is_some(), "{view}");
}

#[test]
fn pulling_the_backbone_reports_its_steps_as_news_not_warnings() {
    // A fresh COLLM_HOME has no models: `prompt` pulls SmolLM2 with pip first (from pip's cache
    // once any test pulled it). The pull's steps once went through `tracing::warn!`, so a first
    // run printed five timestamped WARN lines (colour codes in a log file) for nothing wrong.
    let env = Env::new();
    let exp = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/quick-collm.toml");
    let out = env.output(&["prompt", exp, "--user", "1", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("model `smollm2-135m` is not in ") && l.ends_with("pulling it")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("registered `smollm2-135m`")
            && l.ends_with("SHA-256 verified)")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("WARN") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    // And the command went on to do its job with the model it pulled.
    assert_eq!(view["prompt"], "hybrid", "{view}");
    assert!(
        view["text"].as_str().unwrap().contains("<UserID>"),
        "{view}"
    );
}

/// A run killed while it replayed its `[reuse]` source's foundation curve (before it took the
/// weights) replays the rest on resume, each point once: its curve is the source's, whole.
#[test]
fn a_foundation_replay_cut_short_is_completed_once_on_resume() {
    use collm_events::Event;
    let env = Env::new();
    let source = env.json(&["run", QUICK_COLLM_TINY, "--json"]);
    let source = source["run_id"].as_str().unwrap().to_string();
    type Points = Vec<(u64, String)>;
    let cf_points = |id: &str| -> (Points, Points) {
        let export: Value =
            serde_json::from_str(&env.ok(&["export", id, "--format", "json"])).unwrap();
        let of = |what: &str| -> Points {
            export[what]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["stage"] == "cf")
                .map(|p| (p["step"].as_u64().unwrap(), p["split"].to_string()))
                .collect()
        };
        (of("steps"), of("evals"))
    };
    let (steps, evals) = cf_points(&source);
    assert!(steps.len() > 4 && evals.len() > 2);
    let id = {
        let store = collm_store::Store::open(env.store()).unwrap();
        let experiment = store
            .run(&collm_store::RunId::parse(&source).unwrap())
            .unwrap();
        let text = format!("{}\n[reuse]\ncf = \"{source}\"\n", experiment.experiment);
        let id = store.create_run("cut-short", &text, "collm").unwrap();
        // The first half of the curve, as a kill midway through the replay left it.
        let full = store
            .steps(&collm_store::RunId::parse(&source).unwrap())
            .unwrap();
        for p in full
            .iter()
            .filter(|p| p.stage == "cf")
            .take(steps.len() / 2)
        {
            let step = Event::Step {
                stage: p.stage.clone(),
                step: p.step,
                loss: p.loss,
                lr: p.lr,
            };
            store.append_event(&id, &step).unwrap();
        }
        store.append_event(&id, &Event::Cancelled).unwrap();
        id.as_str().to_string()
    };
    let resumed = env.json(&["resume", &id, "--json"]);
    assert_eq!(resumed["status"], "finished", "{resumed}");
    assert_eq!(cf_points(&id), (steps, evals));
}

/// A file name that is not UTF-8 is run like any other (the store's holder record read the
/// command line with `std::env::args`, which panicked on it).
#[cfg(unix)]
#[test]
fn an_experiment_file_whose_name_is_not_utf8_runs() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let text = mf_experiment("odd-name", 2, 2, 1e-2);
    let path = env
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"\xff.toml"));
    std::fs::write(&path, text).unwrap();
    let out = env.cmd(&["run"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(env.ok(&["runs", "--ids"]).lines().count() == 1);
}
