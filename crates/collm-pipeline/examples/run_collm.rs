//! Runs a CoLLM pipeline config on ml-1m-collm without the store, scoring a seeded sample of a
//! split with each stage's best model (and with the CF model alone), and prints the tables:
//! `cargo run --release -p collm-pipeline --example run_collm -- <pipeline.toml> <model> <run_dir> [split] [rows]`
//! Paths inside the config are relative to its folder. Events are logged as JSON lines on stderr.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use collm_data::Dataset;
use collm_eval::Breakdown;
use collm_events::{CancelToken, Event};
use collm_llm::Llm;
use collm_pipeline::evaluate::{breakdown, score_samples};
use collm_pipeline::pipeline::run_with;
use collm_pipeline::stage::sample_rows;
use collm_pipeline::{CollmModel, PipelineConfig, SlotSource};

fn row(name: &str, b: &Breakdown) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    format!(
        "{name:<10} all AUC {} UAUC {} | warm AUC {} UAUC {} | cold AUC {} UAUC {} | rows {}/{}/{}",
        f(b.all.auc),
        f(b.all.uauc),
        f(b.warm.auc),
        f(b.warm.uauc),
        f(b.cold.auc),
        f(b.cold.uauc),
        b.all.rows,
        b.warm.rows,
        b.cold.rows
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: run_collm <pipeline.toml> <model> <run_dir> [split] [rows]";
    let cfg_path = PathBuf::from(args.get(1).ok_or(usage)?);
    let model_path = PathBuf::from(args.get(2).ok_or(usage)?);
    let run_dir = PathBuf::from(args.get(3).ok_or(usage)?);
    let split = args.get(4).cloned().unwrap_or_else(|| "valid".into());
    let rows: Option<usize> = args.get(5).map(|s| s.parse()).transpose()?;
    let cfg: PipelineConfig = toml::from_str(&std::fs::read_to_string(&cfg_path)?)?;
    let base = cfg_path.parent().unwrap_or(Path::new("."));
    let data = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/ml-1m-collm"
    ));
    let dataset = Dataset::load_dir(&data)?;
    let eval_rows = sample_rows(
        &dataset.split(&split).ok_or("no such split")?.rows,
        rows,
        2023,
    );
    let (llm, tok) = Llm::load(&model_path, Some(&cfg.lora), &Device::Cpu)?;
    let mut model = CollmModel::build(&cfg, llm, tok, &dataset, base)?;
    let mut table = Vec::new();
    if let SlotSource::Cie { cf, .. } = &model.slots {
        let scored = collm_cf::score_rows(cf.as_ref(), &eval_rows, 2048)?;
        table.push(row(cf.kind().name(), &collm_eval::evaluate(&scored)));
        eprintln!("{}", table.last().unwrap());
    }
    let started = Instant::now();
    let mut sink = |e: &Event| eprintln!("{}", serde_json::to_string(e).unwrap_or_default());
    let mut after = |name: &str,
                     m: &CollmModel,
                     o: &collm_pipeline::StageOutcome,
                     _: &mut dyn collm_events::EventSink| {
        let kind = cfg.stage_prompt(name).expect("a stage of this config");
        let samples = m.encode_all(&eval_rows, kind)?;
        let t0 = Instant::now();
        let scored = score_samples(m, &samples, 32, None, None)?;
        let line = format!(
            "{}  [stage wall {:.0} s, {} steps, {:.2} s/step; scoring {:.0} s]",
            row(name, &breakdown(&scored)),
            o.wall_secs,
            o.steps_here,
            o.train_secs / o.steps_here.max(1) as f64,
            t0.elapsed().as_secs_f64()
        );
        eprintln!("{line}");
        table.push(line);
        Ok(())
    };
    let outcome = run_with(
        &mut model,
        &cfg,
        &dataset,
        &run_dir,
        &mut sink,
        &CancelToken::new(),
        &mut after,
    )?;
    println!(
        "{split} sample of {} rows (seed 2023); total {:.0} s",
        eval_rows.len(),
        started.elapsed().as_secs_f64()
    );
    for line in &table {
        println!("{line}");
    }
    println!(
        "best selection metrics: {:?}",
        outcome.best.map(|b| b.all.auc)
    );
    Ok(())
}
