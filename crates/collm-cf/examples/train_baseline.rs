//! Trains one CF baseline on a CoLLM-layout dataset and prints its valid metrics and timing.
//!
//! cargo run --release -p collm-cf --example train_baseline -- <data_dir> <mf|lightgcn> \
//!     <dim> <lr> <wd> [layers] [out_dir]
//! Batch 2048, patience 100, up to 5000 epochs, seed 2023, selection on the full `valid`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::Device;
use collm_cf::{build, train, CfKind, CfModelConfig, CfTrainConfig};
use collm_data::Dataset;
use collm_eval::Metrics;
use collm_events::{CancelToken, Event};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        bail!("usage: train_baseline <data_dir> <mf|lightgcn> <dim> <lr> <wd> [layers] [out_dir]");
    }
    let kind = match args[1].as_str() {
        "mf" => CfKind::Mf,
        "lightgcn" => CfKind::Lightgcn,
        other => bail!("unknown model kind `{other}`"),
    };
    let model_cfg = CfModelConfig {
        kind,
        dim: args[2].parse().context("dim")?,
        layers: args
            .get(5)
            .map(|s| s.parse())
            .transpose()
            .context("layers")?
            .unwrap_or(2),
        init_std: None,
    };
    let train_cfg = CfTrainConfig {
        lr: args[3].parse().context("lr")?,
        weight_decay: args[4].parse().context("wd")?,
        batch_size: 2048,
        max_epochs: 5000,
        patience: 100,
        seed: std::env::var("SEED")
            .ok()
            .map(|s| s.parse())
            .transpose()
            .context("SEED")?
            .unwrap_or(2023),
        select_on: "valid".into(),
        eval_splits: vec!["valid".into()],
    };
    let out_dir = args
        .get(6)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("collm-cf-{}", kind.name())));
    let dataset = Dataset::load_dir(&PathBuf::from(&args[0]))?;
    let device = Device::Cpu;
    let mut model = build(&model_cfg, &dataset, train_cfg.seed, &device)?;
    let started = Instant::now();
    let mut steps = 0u64;
    let mut epochs = 0usize;
    let mut sink = |e: &Event| match e {
        Event::Step { .. } => steps += 1,
        Event::Eval { metrics, .. } => {
            epochs += 1;
            if epochs.is_multiple_of(50) {
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
