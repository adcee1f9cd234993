//! Trains one CF baseline on a CoLLM-layout dataset and prints its valid metrics and timing.
//!
//! cargo run --release -p collm-cf --example train_baseline -- <data_dir> \
//!     <mf|lightgcn|sasrec|din> <dim> <lr> <wd> [layers] [out_dir] [key=value ...]
//! Options: heads=, dropout=, maxlen= (SASRec/DIN), batch= (2048), patience= (100),
//! max_epochs= (5000). Seed 2023 (or $SEED), selection on the full `valid`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::Device;
use collm_cf::{build, train, CfKind, CfModelConfig, CfTrainConfig};
use collm_data::Dataset;
use collm_eval::Metrics;
use collm_events::{CancelToken, Event};

const USAGE: &str = "usage: train_baseline <data_dir> <mf|lightgcn|sasrec|din> <dim> <lr> <wd> \
                     [layers] [out_dir] [heads=N] [dropout=P] [maxlen=N] [batch=N] [patience=N] \
                     [max_epochs=N]";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        bail!("{USAGE}");
    }
    let kind = match args[1].as_str() {
        "mf" => CfKind::Mf,
        "lightgcn" => CfKind::Lightgcn,
        "sasrec" => CfKind::Sasrec,
        "din" => CfKind::Din,
        other => bail!("unknown model kind `{other}`\n{USAGE}"),
    };
    let (options, positional): (Vec<&String>, Vec<&String>) =
        args[5..].iter().partition(|a| a.contains('='));
    let mut options: Vec<(&str, &str)> = options.iter().filter_map(|a| a.split_once('=')).collect();
    let mut option = |key: &str| {
        options
            .iter()
            .position(|(k, _)| *k == key)
            .map(|i| options.remove(i).1)
    };
    fn parse<T: FromStr>(key: &str, value: &str) -> anyhow::Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        value.parse().with_context(|| format!("{key}={value}"))
    }

    let mut model_cfg = CfModelConfig::new(kind, parse("dim", &args[2])?);
    if let Some(layers) = positional.first() {
        model_cfg.layers = parse("layers", layers)?;
    }
    model_cfg.heads = option("heads").map(|v| parse("heads", v)).transpose()?;
    model_cfg.dropout = option("dropout").map(|v| parse("dropout", v)).transpose()?;
    model_cfg.maxlen = option("maxlen").map(|v| parse("maxlen", v)).transpose()?;
    let train_cfg = CfTrainConfig {
        lr: parse("lr", &args[3])?,
        weight_decay: parse("wd", &args[4])?,
        batch_size: option("batch").map_or(Ok(2048), |v| parse("batch", v))?,
        max_epochs: option("max_epochs").map_or(Ok(5000), |v| parse("max_epochs", v))?,
        patience: option("patience").map_or(Ok(100), |v| parse("patience", v))?,
        seed: std::env::var("SEED")
            .ok()
            .map(|s| parse("SEED", &s))
            .transpose()?
            .unwrap_or(2023),
        select_on: "valid".into(),
        eval_splits: vec!["valid".into()],
    };
    if let Some((key, _)) = options.first() {
        bail!("unknown option `{key}`\n{USAGE}");
    }
    let out_dir = positional
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("collm-cf-{}", kind.name())));
    let dataset = Dataset::load_dir(&PathBuf::from(&args[0]))?;
    let device = Device::Cpu;
    let mut model = build(&model_cfg, &dataset, train_cfg.seed, &device)?;
    let started = Instant::now();
    let mut steps = 0u64;
    let mut epochs = 0usize;
    let report_every = if kind == CfKind::Sasrec || kind == CfKind::Din {
        10
    } else {
        50
    };
    let mut sink = |e: &Event| match e {
        Event::Step { .. } => steps += 1,
        Event::Eval { metrics, .. } => {
            epochs += 1;
            if epochs.is_multiple_of(report_every) {
                let auc = metrics.all.auc.unwrap_or(f64::NAN);
                eprintln!(
                    "epoch {epochs}: valid AUC {auc:.4}, {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        _ => {}
    };
    let outcome = train(
        &mut *model,
        &dataset,
        &train_cfg,
        &out_dir,
        None,
        &mut sink,
        &CancelToken::new(),
    )?;
    let secs = started.elapsed().as_secs_f64();
    let show = |name: &str, m: &Metrics| {
        println!(
            "  {name:<5} AUC {:.4}  UAUC {:.4} ({} users)  rows {}",
            m.auc.unwrap_or(f64::NAN),
            m.uauc.unwrap_or(f64::NAN),
            m.users_counted,
            m.rows
        );
    };
    println!("{model_cfg:?}\n{train_cfg:?}");
    println!(
        "best epoch {} (0-based) of {} run, {steps} steps, {secs:.1} s wall ({:.1} ms/epoch)",
        outcome.best_epoch,
        outcome.epochs_run,
        secs * 1000.0 / outcome.epochs_run as f64
    );
    show("all", &outcome.best.all);
    show("warm", &outcome.best.warm);
    show("cold", &outcome.best.cold);
    println!("weights: {}", outcome.weights.display());
    Ok(())
}
