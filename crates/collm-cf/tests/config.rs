//! Config files: defaults, and unknown keys rejected by name.

use collm_cf::{CfKind, CfModelConfig, CfTrainConfig};

#[test]
fn model_config_defaults_follow_the_reference() {
    let mf: CfModelConfig = toml::from_str("kind = \"mf\"\ndim = 256").unwrap();
    assert_eq!(mf.kind, CfKind::Mf);
    assert_eq!(mf.layers, 2);
    assert_eq!(mf.init_std(), 1.0);
    let lgcn: CfModelConfig = toml::from_str("kind = \"lightgcn\"\ndim = 64").unwrap();
    assert_eq!(lgcn.init_std(), 0.1);
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = toml::from_str::<CfModelConfig>("kind = \"mf\"\ndim = 8\nlayerz = 3").unwrap_err();
    assert!(err.to_string().contains("layerz"), "{err}");
    let err = toml::from_str::<CfTrainConfig>(
        "lr = 0.001\nweight_decay = 0.0\nbatch_size = 8\nmax_epochs = 1\npatience = 1\nseed = 1\nselect = \"valid\"",
    )
    .unwrap_err();
    assert!(err.to_string().contains("select"), "{err}");
    let err = toml::from_str::<CfModelConfig>("kind = \"gru4rec\"\ndim = 8").unwrap_err();
    assert!(err.to_string().contains("gru4rec"), "{err}");
    let err =
        toml::from_str::<CfModelConfig>("kind = \"sasrec\"\ndim = 8\nblocks = 2").unwrap_err();
    assert!(err.to_string().contains("blocks"), "{err}");
}

#[test]
fn train_config_defaults_select_on_full_valid() {
    let cfg: CfTrainConfig = toml::from_str(
        "lr = 0.001\nweight_decay = 0.0001\nbatch_size = 2048\nmax_epochs = 5000\npatience = 100\nseed = 2023",
    )
    .unwrap();
    assert_eq!(cfg.select_on, "valid");
    assert_eq!(cfg.eval_splits, vec!["valid".to_string()]);
    let cfg = CfTrainConfig {
        eval_splits: vec!["valid".into(), "valid_small".into()],
        select_on: "valid_small".into(),
        ..cfg
    };
    assert_eq!(
        cfg.splits_to_evaluate(),
        vec!["valid_small".to_string(), "valid".to_string()]
    );
}

#[test]
fn out_of_range_values_name_their_field() {
    let bad = CfModelConfig::new(CfKind::Mf, 0);
    assert!(bad.validate().unwrap_err().to_string().contains("`dim`"));
    let bad = CfModelConfig {
        init_std: Some(-1.0),
        ..CfModelConfig::new(CfKind::Mf, 4)
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("`init_std`"));
}

#[test]
fn sequence_models_default_to_the_reference() {
    let sas: CfModelConfig = toml::from_str("kind = \"sasrec\"\ndim = 64").unwrap();
    sas.validate().unwrap();
    assert_eq!(
        (
            sas.heads(),
            sas.layers,
            sas.dropout(),
            sas.maxlen(),
            sas.init_std()
        ),
        (1, 2, 0.2, 25, 1.0)
    );
    let din: CfModelConfig = toml::from_str("kind = \"din\"\ndim = 192").unwrap();
    din.validate().unwrap();
    assert_eq!((din.dropout(), din.maxlen()), (0.2, 10));
    let custom: CfModelConfig =
        toml::from_str("kind = \"sasrec\"\ndim = 64\nheads = 4\ndropout = 0.5\nmaxlen = 50")
            .unwrap();
    custom.validate().unwrap();
    assert_eq!(
        (custom.heads(), custom.dropout(), custom.maxlen()),
        (4, 0.5, 50)
    );
    assert_eq!(CfModelConfig::new(CfKind::Mf, 4).maxlen(), 0);
}

#[test]
fn sequence_model_settings_are_checked_by_name() {
    let din = |dim| CfModelConfig::new(CfKind::Din, dim);
    let sas = |dim| CfModelConfig::new(CfKind::Sasrec, dim);
    let mf = |dim| CfModelConfig::new(CfKind::Mf, dim);
    let lightgcn = |dim| CfModelConfig::new(CfKind::Lightgcn, dim);
    // A config, a change to it, and the words the error must contain.
    type Change = fn(&mut CfModelConfig);
    let cases: [(CfModelConfig, Change, &[&str]); 13] = [
        (din(64), |_| {}, &["`dim`", "divisible by 3", "64"]),
        (sas(64), |c| c.heads = Some(3), &["`heads`", "64"]),
        (sas(64), |c| c.heads = Some(0), &["`heads`"]),
        (din(192), |c| c.heads = Some(2), &["`heads`", "sasrec only"]),
        (mf(8), |c| c.dropout = Some(0.1), &["`dropout`", "`mf`"]),
        (sas(8), |c| c.dropout = Some(1.0), &["`dropout`"]),
        (din(6), |c| c.dropout = Some(-0.1), &["`dropout`"]),
        (sas(8), |c| c.maxlen = Some(0), &["`maxlen`"]),
        (lightgcn(8), |c| c.maxlen = Some(5), &["`maxlen`"]),
        (
            mf(8),
            |c| c.layers = 3,
            &["`layers`", "lightgcn and sasrec", "`mf`"],
        ),
        (din(6), |c| c.layers = 1, &["`layers`", "`din`"]),
        (
            mf(8),
            |c| c.dim = 1_000_000_000,
            &["`dim`", "at most 16384"],
        ),
        (
            din(6),
            |c| c.init_std = Some(0.1),
            &["`init_std`", "xavier"],
        ),
    ];
    // The default, which every stored MF and DIN experiment carries, stays accepted.
    mf(8).validate().unwrap();
    for (mut cfg, change, words) in cases {
        change(&mut cfg);
        // The rules for new input come on top of those every stored config meets.
        let e = cfg
            .validate()
            .and_then(|()| cfg.check_new_input())
            .unwrap_err()
            .to_string();
        for word in words {
            assert!(e.contains(word), "{word} not in: {e}");
        }
    }
}
