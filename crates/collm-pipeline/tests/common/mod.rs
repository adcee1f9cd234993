//! Shared fixtures: the ml-1m-collm data, a tiny random LLM, a saved MF model, configs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use collm_cf::{CfKind, CfModelConfig};
use collm_data::Dataset;
use collm_llm::{Llm, LoraConfig};
use collm_pipeline::{CollmModel, PipelineConfig};

pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/ml-1m-collm"
    ))
}

pub fn dataset() -> Dataset {
    Dataset::load_dir(&data_dir()).expect("ml-1m-collm loads")
}

pub fn mf_config() -> CfModelConfig {
    CfModelConfig {
        kind: CfKind::Mf,
        dim: 8,
        layers: 2,
        init_std: None,
        ..CfModelConfig::new(CfKind::Mf, 8)
    }
}

/// Saves a randomly initialised MF of `mf_config()` to `dir/mf.safetensors`.
pub fn saved_mf(dataset: &Dataset, dir: &Path) -> PathBuf {
    let mf = collm_cf::build(&mf_config(), dataset, 5, &Device::Cpu).unwrap();
    let path = dir.join("mf.safetensors");
    mf.save(&path).unwrap();
    path
}

/// A two-stage CoLLM config over tiny budgets, with short histories (the tiny tokenizer spends
/// a token per character) and LoRA dropout 0 so that runs are deterministic.
pub fn tiny_config(cf_weights: &Path) -> PipelineConfig {
    let text = format!(
        r#"
        seed = 11
        [prompt]
        max_history = 3
        [lora]
        dropout = 0.0
        [slots]
        cf = {{ kind = "mf", dim = 8 }}
        cf_weights = "{}"
        [[stages]]
        prompt = "text"
        train = ["lora"]
        max_steps = 6
        warmup_steps = 2
        eval_every = 2
        batch_size = 4
        eval_batch_size = 8
        train_rows = 24
        eval_rows = 16
        lr = 1e-2
        [[stages]]
        prompt = "hybrid"
        train = ["mapping"]
        max_steps = 6
        warmup_steps = 2
        eval_every = 2
        batch_size = 4
        eval_batch_size = 8
        train_rows = 24
        eval_rows = 16
        lr = 1e-2
        "#,
        cf_weights.display()
    );
    toml::from_str(&text).unwrap()
}

pub fn tiny_model(cfg: &PipelineConfig, dataset: &Dataset) -> CollmModel {
    let (llm, tok) = Llm::tiny_random(3, Some(&cfg.lora), &Device::Cpu).unwrap();
    CollmModel::build(cfg, llm, tok, dataset, Path::new("/")).unwrap()
}

pub fn lora_with_dropout(dropout: f64) -> LoraConfig {
    LoraConfig {
        dropout,
        ..LoraConfig::default()
    }
}

pub fn flat(v: &candle_core::Var) -> Vec<f32> {
    v.as_tensor()
        .flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// LoRA weights drawn at random.
pub fn randomise_lora(model: &CollmModel) {
    use rand::{Rng, SeedableRng};
    // peft starts B at zero, which would make LoRA a no-op and the test blind to it. Seeded:
    // candle's `randn` draws from an unseeded generator, so each run of a test compared a
    // different model, and the cached-against-full comparisons failed now and then, on
    // whichever weights put a logit's last bits past the tolerance.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Uniform with a standard deviation of 0.3.
    let half_width = 0.3 * 3f32.sqrt();
    for (_, var) in model.llm.lora_vars() {
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.gen_range(-half_width..half_width))
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), var.device()).unwrap())
            .unwrap();
    }
}

/// The tiny CoLLM model on the tiny dataset (its MF saved in the returned folder), LoRA
/// randomised and frozen, dropout off: a stage-2 model.
pub fn frozen_tiny_model() -> (Dataset, tempfile::TempDir, CollmModel) {
    let dataset = dataset();
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(&saved_mf(&dataset, dir.path()));
    let mut model = tiny_model(&cfg, &dataset);
    randomise_lora(&model);
    model.set_trainable(false, false);
    (dataset, dir, model)
}
