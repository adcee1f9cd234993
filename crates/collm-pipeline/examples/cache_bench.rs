//! Stage-2 prefix-cache benchmark on a real backbone:
//! `cargo run --release -p collm-pipeline --example cache_bench -- <model.gguf|hf-folder> [steps] [batch]`
//! (data: shared/data/ml-1m-collm; the CIE is fed by a freshly drawn MF, which does not change
//! the cost of a step).

use std::path::{Path, PathBuf};

use candle_core::Device;
use collm_data::Dataset;
use collm_llm::Llm;
use collm_pipeline::bench::bench_stage2_cache;
use collm_pipeline::pipeline::plans;
use collm_pipeline::{CollmModel, PipelineConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model_path = PathBuf::from(
        args.get(1)
            .ok_or("usage: cache_bench <model> [steps] [batch]")?,
    );
    let steps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let batch: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let data = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/ml-1m-collm"
    ));
    let dataset = Dataset::load_dir(&data)?;
    let cfg: PipelineConfig = toml::from_str(&format!(
        r#"
        [slots]
        cf = {{ kind = "mf", dim = 256 }}
        cf_init = "scratch"
        [[stages]]
        prompt = "hybrid"
        train = ["mapping"]
        max_steps = {steps}
        batch_size = {batch}
        train_rows = {rows}
        eval_rows = 1
        "#,
        rows = steps * batch
    ))?;
    let (llm, tok) = Llm::load(&model_path, Some(&cfg.lora), &Device::Cpu)?;
    let mut model = CollmModel::build(&cfg, llm, tok, &dataset, Path::new("."))?;
    let plan = &plans(&cfg, Path::new("/nonexistent"))[0];
    let r = bench_stage2_cache(&mut model, &dataset, plan, steps)?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    println!(
        "stage-2 step: uncached {:.3} s, cached {:.3} s (first visit {:.3} s): {:.2}x faster; max loss difference {:.2e}",
        r.uncached_step_secs,
        r.cached_step_secs,
        r.first_visit_step_secs,
        r.uncached_step_secs / r.cached_step_secs,
        r.max_loss_diff
    );
    Ok(())
}
