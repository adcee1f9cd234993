//! Experiment files read, checked and rewritten: defaults, unknown keys, range errors at their
//! line, overrides, reuse and the settings the TUI's launch form edits.

use std::path::Path;

use super::*;

const GOOD: &str = r#"name = "t"
device = "cpu"

[dataset]
path = "data/ml"

[model]
kind = "mf"
dim = 8

[training]
lr = 0.01
weight_decay = 0.0001
batch_size = 64
max_epochs = 3
patience = 2
seed = 1

[evaluation]
splits = ["valid", "valid_small"]
"#;

fn parse(text: &str) -> Result<Experiment, ExperimentError> {
    Experiment::from_toml(text, Path::new("/exp/dir/my-exp.toml"))
}

fn error_of(text: &str) -> String {
    parse(text).expect_err("must be rejected").to_string()
}

#[test]
fn reads_a_complete_experiment() {
    let e = parse(GOOD).unwrap();
    assert_eq!(e.name, "t");
    assert_eq!(e.kind, ExperimentKind::Cf);
    assert_eq!(e.device, DeviceSpec::Cpu);
    assert_eq!(
        e.dataset.path.as_deref(),
        Some(Path::new("/exp/dir/data/ml"))
    );
    assert_eq!(e.model.dim, 8);
    assert_eq!(e.training.max_epochs, 3);
    assert_eq!(e.evaluation.splits, vec!["valid", "valid_small"]);
    assert_eq!(e.evaluation.ranking, None);
    let ranked = parse(&GOOD.replace("splits = [", "ranking = { k = 5 }\nsplits = [")).unwrap();
    assert_eq!(
        ranked.evaluation.ranking,
        Some(RankingSpec {
            k: 5,
            negatives: 100,
            seed: 2023
        })
    );
    let bad = error_of(&GOOD.replace("splits = [", "ranking = { k = 5, n = 3 }\nsplits = ["));
    assert!(
        bad.contains("unknown field `n`") && bad.contains(":20:"),
        "{bad}"
    );
    // A k above the negatives puts every positive in the top k: recall 1 for any model.
    let trivial = error_of(&GOOD.replace(
        "splits = [",
        "ranking = { k = 1000, negatives = 5 }\nsplits = [",
    ));
    assert!(
        trivial.contains("`k` (1000) must be at most `negatives` (5)"),
        "{trivial}"
    );
}

#[test]
fn the_experiment_as_run_reads_back_the_same() {
    let e = parse(GOOD).unwrap();
    let again = Experiment::from_toml(&e.to_toml(), Path::new("/elsewhere/x.toml")).unwrap();
    assert_eq!(again, e);
}

#[test]
fn defaults_name_and_evaluation() {
    let text = GOOD
        .replace("name = \"t\"\n", "")
        .replace("[evaluation]\nsplits = [\"valid\", \"valid_small\"]\n", "");
    let e = parse(&text).unwrap();
    assert_eq!(e.name, "my-exp");
    assert_eq!(e.evaluation.splits, vec!["valid"]);
}

#[test]
fn unknown_keys_are_named_with_file_and_line() {
    let top = error_of(&GOOD.replace("device = \"cpu\"", "device = \"cpu\"\nepochs = 3"));
    assert!(top.starts_with("/exp/dir/my-exp.toml:3:1:"), "{top}");
    assert!(top.contains("unknown field `epochs`"), "{top}");

    let training = error_of(&GOOD.replace("seed = 1", "seed = 1\nlearning_rate = 0.1"));
    assert!(
        training.starts_with("/exp/dir/my-exp.toml:18:1:"),
        "{training}"
    );
    assert!(
        training.contains("unknown field `learning_rate`"),
        "{training}"
    );

    let section = error_of(&format!("{GOOD}\n[stage9]\npath = \"x\"\n"));
    assert!(section.contains("unknown field `stage9`"), "{section}");
    assert!(section.contains(":22:"), "{section}");
}

#[test]
fn missing_keys_and_bad_values_are_named() {
    let missing = error_of(&GOOD.replace("dim = 8\n", ""));
    assert!(missing.contains("missing field `dim`"), "{missing}");
    assert!(missing.contains("my-exp.toml:"), "{missing}");

    let range = error_of(&GOOD.replace("batch_size = 64", "batch_size = 0"));
    // The key as `--set` takes it, not the section's field name alone.
    assert!(
        range.contains("invalid setting `training.batch_size`"),
        "{range}"
    );
    assert!(range.contains("my-exp.toml:14:1:"), "{range}");

    let device = error_of(&GOOD.replace("device = \"cpu\"", "device = \"gpu\""));
    assert!(
        device.contains("my-exp.toml:2:") && device.contains("\"cuda:N\""),
        "{device}"
    );

    let both = error_of(&GOOD.replace(
        "path = \"data/ml\"",
        "path = \"data/ml\"\nsource = \"embedded\"",
    ));
    assert!(both.contains("exactly one of `path"), "{both}");
    assert!(both.contains("my-exp.toml:4:1:"), "{both}");

    let kind = error_of(&GOOD.replace("kind = \"mf\"", "kind = \"dcn\""));
    assert!(kind.contains("dcn") && kind.contains("sasrec"), "{kind}");
    // Since SASRec and DIN exist, they parse.
    for k in ["sasrec", "din"] {
        let dim = if k == "din" { "dim = 12" } else { "dim = 8" };
        parse(
            &GOOD
                .replace("kind = \"mf\"", &format!("kind = \"{k}\""))
                .replace("dim = 8", dim),
        )
        .unwrap();
    }
}

/// The parser's Rust type names are said in TOML's words, and an empty dataset path is named.
#[test]
fn type_errors_speak_toml() {
    let edit = |from: &str, to: &str| {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    };
    let cases = [
        (
            edit("max_epochs = 3", "max_epochs = \"two\""),
            "expected a whole number of 0 or more",
        ),
        (edit("lr = 0.01", "lr = \"fast\""), "expected a number"),
        ("name = \"t\"\nmodel = 3\n".to_string(), "expected a table"),
        (
            edit("path = \"data/ml\"", "path = \"\""),
            "field `path`: is empty",
        ),
    ];
    for (text, want) in cases {
        let err = Experiment::from_toml(&text, Path::new("/x/e.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{text}: {err}");
        for rust in ["usize", "f64", "struct"] {
            assert!(!err.contains(rust), "{text}: {err}");
        }
    }
    assert_eq!(
        super::error::plain_types("invalid type: string \"u8\", expected u8x or u8"),
        "invalid type: string \"u8\", expected u8x or u8"
    );
}

#[test]
fn embedded_source_and_devices() {
    let e = parse(&GOOD.replace("path = \"data/ml\"", "source = \"embedded\"")).unwrap();
    assert_eq!(e.dataset.source, Some(DatasetSource::Embedded));
    assert_eq!(e.dataset.path, None);
    assert_eq!(
        parse(&GOOD.replace("\"cpu\"", "\"cuda:1\""))
            .unwrap()
            .device,
        DeviceSpec::Cuda(1)
    );
    assert_eq!(
        parse(&GOOD.replace("\"cpu\"", "\"auto\"")).unwrap().device,
        DeviceSpec::Auto
    );
    assert!(parse(GOOD).unwrap().resolve_device().unwrap().is_cpu());
    #[cfg(not(feature = "cuda"))]
    {
        let cuda = parse(&GOOD.replace("\"cpu\"", "\"cuda:0\"")).unwrap();
        let err = cuda.resolve_device().unwrap_err().to_string();
        assert!(
            err.contains("without CUDA support") && err.contains("device = \"cpu\""),
            "{err}"
        );
        let auto = parse(&GOOD.replace("\"cpu\"", "\"auto\"")).unwrap();
        assert!(auto.resolve_device().unwrap().is_cpu());
    }
}

#[test]
fn dtype_defaults_to_auto_and_command_lines_override_placement() {
    let mut e = parse(GOOD).unwrap();
    assert_eq!(e.dtype, DTypeSpec::Auto);
    // "auto" is left out of the experiment as run, so older stored runs read back the same.
    assert!(!e.to_toml().contains("dtype"));
    let bf16 =
        parse(&GOOD.replace("device = \"cpu\"", "device = \"cpu\"\ndtype = \"bf16\"")).unwrap();
    assert_eq!(bf16.dtype, DTypeSpec::Bf16);
    assert!(bf16.to_toml().contains("dtype = \"bf16\""));
    let bad = error_of(&GOOD.replace("device = \"cpu\"", "device = \"cpu\"\ndtype = \"fp8\""));
    assert!(
        bad.contains("my-exp.toml:3:") && bad.contains("\"bf16\""),
        "{bad}"
    );

    assert!(!e.place(Placement::default()));
    let gpu = Placement {
        device: Some(DeviceSpec::Cuda(0)),
        dtype: None,
    };
    assert!(e.place(gpu));
    assert_eq!((e.device, e.dtype), (DeviceSpec::Cuda(0), DTypeSpec::Auto));
    assert!(!e.place(gpu), "placing again changes nothing");
}

#[test]
fn shipped_experiments_parse() {
    let default = Experiment::from_toml(DEFAULT_EXPERIMENT, Path::new("embedded.toml")).unwrap();
    assert_eq!(default.name(), DEFAULT_EXPERIMENT_NAME);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let e = Experiment::load(&path).unwrap_or_else(|err| panic!("{err}"));
            // What ships means what it says: no setting a note would question.
            assert_eq!(e.advice(), Vec::<String>::new(), "{}", path.display());
            assert_eq!(
                Some(e.name.as_str()),
                path.file_stem().and_then(|s| s.to_str()),
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 3);
    // A warmup past the step budget is said.
    let mut long = Experiment::load(&dir.join("quick-collm-tiny.toml")).unwrap();
    long.collm.as_mut().unwrap().stages[1].warmup_steps = 1000;
    let advice = long.advice();
    assert_eq!(advice.len(), 1, "{advice:?}");
    assert!(
        advice[0].contains("collm.stages.1.warmup_steps (1000)"),
        "{advice:?}"
    );
    let mf = Experiment::load(&dir.join("mf-ml1m.toml")).unwrap();
    assert!(
        mf.dataset
            .path
            .as_ref()
            .unwrap()
            .join("train.tsv")
            .is_file(),
        "{:?}",
        mf.dataset.path
    );
    assert_eq!(
        (
            mf.model.dim,
            mf.training.batch_size,
            mf.training.patience,
            mf.training.seed
        ),
        (256, 2048, 100, 2023)
    );
}

#[test]
fn collm_experiments_take_the_cie_model_from_model_and_absolute_paths() {
    let text = format!(
        "{GOOD}kind = \"collm\"\n[llm]\nbackbone = \"models/x.gguf\"\n[collm]\n[collm.slots]\ncf_weights = \"mf.safetensors\"\n[[collm.stages]]\nprompt = \"hybrid\"\ntrain = [\"mapping\"]\nmax_steps = 3\n"
    )
    .replace("[evaluation]\nsplits = [\"valid\", \"valid_small\"]\n", "");
    // `kind` must be a top-level key: put it before the first table.
    let text = text.replace("kind = \"collm\"\n[llm]", "[llm]").replacen(
        "device = \"cpu\"",
        "device = \"cpu\"\nkind = \"collm\"",
        1,
    );
    let e = parse(&text).unwrap();
    assert_eq!(e.kind, ExperimentKind::Collm);
    let cfg = e.collm.as_ref().unwrap();
    assert_eq!(cfg.slots.cf.as_ref(), Some(&e.model));
    assert_eq!(
        cfg.slots.cf_weights.as_deref(),
        Some(Path::new("/exp/dir/mf.safetensors"))
    );
    assert_eq!(e.llm.as_ref().unwrap().backbone, "/exp/dir/models/x.gguf");
    let again = Experiment::from_toml(&e.to_toml(), Path::new("/elsewhere/x.toml")).unwrap();
    assert_eq!(again, e);
    let missing = error_of(&text.replace("kind = \"collm\"", "kind = \"cf\""));
    assert!(missing.contains("[collm]"), "{missing}");
    let bad = error_of(&text.replace("max_steps = 3", "max_steps = 3\nlearning_rate = 1"));
    assert!(bad.contains("learning_rate"), "{bad}");
}

#[test]
fn collm_settings_out_of_range_are_named_as_set_names_them_at_their_line() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quick-collm-tiny.toml"),
    )
    .unwrap();
    // The error for `text` with `from` replaced by `to`, and the location of `to`'s first line.
    let at = |from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        let changed = text.replacen(from, to, 1);
        let line = changed[..changed.find(to).unwrap()].matches('\n').count() + 1;
        (error_of(&changed), format!("my-exp.toml:{line}:1:"))
    };
    // A key of the second stage (an array of tables).
    let (lr, line) = at("lr = 1e-2\nwarmup", "lr = -1e-2\nwarmup");
    assert!(lr.contains(&line), "{lr} (expected {line})");
    assert!(lr.contains("invalid setting `collm.stages.1.lr`"), "{lr}");
    assert!(lr.contains("| lr = -1e-2"), "{lr}");
    // A key of a nested table: one line below the header.
    let (r, header) = at("seed = 42\n", "seed = 42\n\n[collm.lora]\nr = 0\n");
    let header_line: usize = header.split(':').nth(1).unwrap().parse().unwrap();
    let line = format!("my-exp.toml:{}:1:", header_line + 3);
    assert!(r.contains(&line), "{r} (expected {line})");
    assert!(
        r.contains("invalid setting `collm.lora.r`: must be positive"),
        "{r}"
    );
    // The first stage named as the second is by default: reported where the name is written
    // (not at the second stage's key, which the file does not write).
    let named = text.replacen(
        "prompt = \"text\"",
        "prompt = \"text\"\nname = \"stage2\"",
        1,
    );
    let twice = error_of(&named);
    let written = named.find("name = \"stage2\"").unwrap();
    let line = named[..written].matches('\n').count() + 1;
    assert!(twice.contains("`collm.stages.0.name`"), "{twice}");
    // Each of two settings checked together is named alone.
    let (rows, _) = at(
        "eval_rows = 32\n\n[[collm.stages]]\nprompt = \"hybrid\"",
        "eval_rows = 0\n\n[[collm.stages]]\nprompt = \"hybrid\"",
    );
    assert!(
        rows.contains("invalid setting `collm.stages.0.eval_rows`"),
        "{rows}"
    );
    assert!(
        twice.contains(&format!("my-exp.toml:{line}:1:")),
        "{twice} (expected line {line})"
    );
}

fn shipped(name: &str) -> Experiment {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    Experiment::load(&dir.join(format!("{name}.toml"))).unwrap()
}

#[test]
fn stage_one_is_shared_by_every_cie_source_and_stage_two_is_not() {
    let (mf, din, sasrec) = (
        shipped("collm-mf-ml1m"),
        shipped("collm-din-ml1m"),
        shipped("collm-sasrec-ml1m"),
    );
    for other in [&din, &sasrec] {
        assert_eq!(
            other.can_reuse_from("stage1", &mf, "source"),
            Ok(()),
            "{}",
            other.name
        );
        // Stage 2 reads the foundation, which the CIE slots name as [model].
        let why = other.can_reuse_from("stage2", &mf, "source").unwrap_err();
        assert!(why.starts_with("`collm.slots.cf."), "{why}");
    }
    assert_eq!(mf.can_reuse_from("stage2", &mf, "source"), Ok(()));
    // A run that takes its foundation from the source has the foundation the source trained
    // itself; from another run, it has another one.
    let mut on_source_cf = mf.clone();
    on_source_cf
        .reuse
        .insert(FOUNDATION.into(), "source".into());
    assert_eq!(on_source_cf.can_reuse_from("stage2", &mf, "source"), Ok(()));
    on_source_cf
        .reuse
        .insert(FOUNDATION.into(), "elsewhere".into());
    assert_eq!(
        on_source_cf.can_reuse_from("stage2", &mf, "source"),
        Err("`reuse.cf` differs".into())
    );

    // Whatever stage 1 reads must agree: its learning rate, the LoRA, the backbone.
    let mut changed = mf.clone();
    changed.collm.as_mut().unwrap().stages[0].lr = 1e-3;
    let why = din
        .can_reuse_from("stage1", &changed, "source")
        .unwrap_err();
    assert_eq!(why, "`collm.stages.0.lr` differs");
    changed = mf.clone();
    changed.collm.as_mut().unwrap().lora.r = 16;
    assert_eq!(
        din.can_reuse_from("stage1", &changed, "source")
            .unwrap_err(),
        "`collm.lora.r` differs"
    );
    // A cosine horizon written out equal to the budget is the default's one schedule; another
    // horizon is another schedule.
    changed = mf.clone();
    let stage = &mut changed.collm.as_mut().unwrap().stages[0];
    stage.cosine_steps = Some(stage.max_steps);
    assert_eq!(din.can_reuse_from("stage1", &changed, "source"), Ok(()));
    assert_eq!(changed.can_reuse_from("stage1", &din, "source"), Ok(()));
    changed.collm.as_mut().unwrap().stages[0].cosine_steps = Some(10_000);
    assert_eq!(
        din.can_reuse_from("stage1", &changed, "source")
            .unwrap_err(),
        "`collm.stages.0.cosine_steps` differs"
    );
    // ... but not the prefix cache, nor what comes after it.
    changed = mf.clone();
    let cfg = changed.collm.as_mut().unwrap();
    cfg.prefix_cache_mb = 1;
    cfg.stages[1].lr = 1.0;
    assert_eq!(din.can_reuse_from("stage1", &changed, "source"), Ok(()));

    // The foundation needs the same [model], however long its source trained.
    let mut sas_alone = shipped("sasrec-ml1m");
    sas_alone.training.max_epochs = 45;
    assert_eq!(
        sasrec.can_reuse_from(FOUNDATION, &sas_alone, "source"),
        Ok(())
    );
    assert!(din
        .can_reuse_from(FOUNDATION, &sas_alone, "source")
        .unwrap_err()
        .starts_with("`model."));
    // A `collm` source must have trained its foundation: TALLRec (no CIE) has a [model] of
    // the same MF but no foundation (a sweep once took one from it and failed at the start).
    let tallrec = shipped("tallrec-ml1m");
    let mf_cf = shipped("collm-mf-ml1m");
    assert_eq!(tallrec.model, mf_cf.model);
    let why = mf_cf
        .can_reuse_from(FOUNDATION, &tallrec, "source")
        .unwrap_err();
    assert!(
        why.contains("cannot provide `cf`") && why.contains("no foundation"),
        "{why}"
    );
    assert_eq!(mf_cf.can_reuse_from(FOUNDATION, &mf_cf, "source"), Ok(()));
    // A stage needs a `collm` source that has it.
    assert!(din
        .can_reuse_from("stage1", &sas_alone, "source")
        .unwrap_err()
        .contains("not a `collm` experiment"));
}

#[test]
fn reuse_names_real_stages_and_only_a_leading_run_of_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let text = std::fs::read_to_string(dir.join("collm-din-ml1m.toml")).unwrap();
    let origin = dir.join("collm-din-ml1m.toml");
    let with = |reuse: &str| Experiment::from_toml(&format!("{text}\n[reuse]\n{reuse}\n"), &origin);
    let ok = with("cf = \"261129-0\"\nstage1 = \"261129-011202\"").unwrap();
    assert_eq!(ok.reused_stages(), vec!["stage1".to_string()]);
    let again = Experiment::from_toml(&ok.to_toml(), &origin).unwrap();
    assert_eq!(again.reuse, ok.reuse, "the record keeps [reuse]");

    let err = with("stage2 = \"261129-011202\"").unwrap_err().to_string();
    assert!(
        err.contains("collm-din-ml1m.toml")
            && err.contains("[reuse] stage2")
            && err.contains("stage1 is trained here"),
        "{err}"
    );
    let err = with("stage3 = \"x\"").unwrap_err().to_string();
    assert!(
        err.contains("no such stage") && err.contains("stage1, stage2"),
        "{err}"
    );
    // At the key's line in the file.
    let line = text.lines().count() + 3;
    assert!(
        err.contains(&format!("collm-din-ml1m.toml:{line}:1: [reuse] stage3: ")),
        "{err}"
    );
    let err = error_of(&format!("{GOOD}[reuse]\ncf = \"x\"\n"));
    assert!(err.contains("`kind = \"collm\"`"), "{err}");
}

#[test]
fn a_stored_experiment_is_read_under_its_run_s_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = collm_store::Store::open(dir.path()).unwrap();
    let good = store.create_run("t", GOOD, "cf").unwrap();
    let experiment = Experiment::of_run(&store.run(&good).unwrap()).unwrap();
    assert_eq!(experiment.name, "t");
    // A run stored by an older build that today's parser refuses: the message names the run.
    let bad = store
        .create_run("t", &GOOD.replace("dim = 8", "dim = \"eight\""), "cf")
        .unwrap();
    let err = Experiment::of_run(&store.run(&bad).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("<experiment of run {bad}>")), "{err}");
    assert!(err.contains("dim"), "{err}");
}

#[test]
fn inputs_are_checked_before_a_run_is_created() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for file in ["items.tsv", "train.tsv", "valid.tsv", "valid_small.tsv"] {
        std::fs::write(data.join(file), "").unwrap();
    }
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quick-collm-tiny.toml"),
    )
    .unwrap();
    let origin = root.path().join("exp.toml");
    let check = |from: &str, to: &str| {
        let text = shipped.replace("source = \"embedded\"", "path = \"data\"");
        assert!(
            text.contains("path = \"data\"") && text.contains(from),
            "{from}"
        );
        let e = Experiment::from_toml(&text.replacen(from, to, 1), &origin).unwrap();
        e.check_inputs(root.path()).err().map(|e| e.to_string())
    };
    assert_eq!(check("", ""), None);

    let folder = check("path = \"data\"", "path = \"nowhere\"").unwrap();
    assert!(
        folder.starts_with("setting `dataset.path`: ") && folder.contains("no such folder"),
        "{folder}"
    );
    let split = check("splits = [\"valid\"]", "splits = [\"test\"]").unwrap();
    assert!(
        split.contains("setting `evaluation.splits.0` names split `test`"),
        "{split}"
    );

    let hub = check("backbone = \"tiny-random\"", "backbone = \"smollm-135\"").unwrap();
    assert!(
        hub.starts_with("setting `llm.backbone`: ") && hub.contains("unknown model"),
        "{hub}"
    );
    let file = check("backbone = \"tiny-random\"", "backbone = \"models/x.gguf\"").unwrap();
    assert!(file.contains("models/x.gguf: no such file"), "{file}");
    // A file there that is not a model fails now, not after the foundation trained.
    std::fs::create_dir_all(root.path().join("models")).unwrap();
    std::fs::write(root.path().join("models/x.gguf"), "not a model").unwrap();
    let file = check("backbone = \"tiny-random\"", "backbone = \"models/x.gguf\"").unwrap();
    assert!(
        file.contains("not a usable backbone") && file.contains("models/x.gguf"),
        "{file}"
    );

    std::fs::write(
        root.path().join("typo.txt"),
        "<ItemTitleList> <TargetItemTitel>\n",
    )
    .unwrap();
    let template = check(
        "seed = 42\n",
        "seed = 42\n[collm.prompt]\ntext_template = \"typo.txt\"\n",
    )
    .unwrap();
    assert!(
        template.starts_with("setting `collm.prompt.text_template`: ")
            && template.contains("typo.txt:1: unknown placeholder <TargetItemTitel>"),
        "{template}"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"name = \"a\"\ndescription = \"caf\xe9\"\n").unwrap();
    let e = Experiment::load(&path).unwrap_err().to_string();
    assert_eq!(e, format!("{}:2: not valid UTF-8 text", path.display()));
}

#[test]
fn a_byte_order_mark_before_the_toml_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.toml");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quick-mf.toml"),
    )
    .unwrap();
    std::fs::write(&path, format!("\u{feff}{shipped}")).unwrap();
    assert_eq!(Experiment::load(&path).unwrap().name, "quick-mf");
}

#[test]
fn a_control_character_in_a_name_is_refused_at_its_line() {
    let text = GOOD.replace("name = \"t\"", "name = \"a\\u001b[31mred\"");
    let e = parse(&text).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "/exp/dir/my-exp.toml:1:1: invalid setting `name`: holds the control character \\u{1b}"
        ),
        "{e}"
    );
    let text = GOOD.replace(
        "name = \"t\"",
        "name = \"t\"\ndescription = \"two\\nlines\"",
    );
    parse(&text).unwrap();
    // A right-to-left override makes one name read as another.
    let text = GOOD.replace("name = \"t\"", "name = \"a\\u202Eb\"");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("holds the control character \\u{202e}"), "{e}");
}

#[test]
fn a_split_listed_twice_is_refused_at_its_line() {
    let text = GOOD.replace(
        "splits = [\"valid\", \"valid_small\"]",
        "splits = [\"valid\", \"valid_small\", \"valid\"]",
    );
    let e = parse(&text).unwrap_err().to_string();
    let line = text
        .lines()
        .position(|l| l.starts_with("splits = "))
        .unwrap()
        + 1;
    assert!(
        e.starts_with(&format!(
            "/exp/dir/my-exp.toml:{line}:1: invalid setting `evaluation.splits`: `valid` is listed twice"
        )),
        "{e}"
    );
}

/// Rules added for new input do not reach stored runs: an older version accepted and ran
/// these, and their runs must stay readable, comparable and resumable.
#[test]
fn stored_experiments_are_read_without_the_rules_for_new_input() {
    let cases = [
        GOOD.replace("dim = 8", "dim = 8\nlayers = 3"),
        GOOD.replace("name = \"t\"", "name = \"a\\u001bb\""),
        GOOD.replace(
            "splits = [",
            "ranking = { k = 10, negatives = 5 }\nsplits = [",
        ),
        GOOD.replace("dim = 8", "dim = 100000"),
    ];
    for text in cases {
        assert!(parse(&text).is_err(), "new input refuses:\n{text}");
        Experiment::parse(&text, Path::new("<experiment of run X>"))
            .unwrap_or_else(|e| panic!("a stored run reads: {e}\n{text}"));
    }
    // A tab in a description, and a zero-width joiner in a name, are text.
    parse(&GOOD.replace(
        "name = \"t\"",
        "name = \"a\\u200Db\"\ndescription = \"a\\tb\"",
    ))
    .unwrap();
}
