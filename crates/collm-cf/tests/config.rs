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
    let err = toml::from_str::<CfModelConfig>("kind = \"sasrec\"\ndim = 8").unwrap_err();
    assert!(err.to_string().contains("sasrec"), "{err}");
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
    let bad = CfModelConfig {
        kind: CfKind::Mf,
        dim: 0,
        layers: 2,
        init_std: None,
    };
    assert!(bad.validate().unwrap_err().to_string().contains("`dim`"));
    let bad = CfModelConfig {
        kind: CfKind::Mf,
        dim: 4,
        layers: 2,
        init_std: Some(-1.0),
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("`init_std`"));
}
