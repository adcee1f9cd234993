//! `collm bench`: throughput measurements of the LLM, the training stages and the TUI.
//!
//! `collm bench llm --json` prints one object:
//!
//! ```json
//! {"impl": "collm", "model": "SmolLM2-135M-Instruct.Q4_1.gguf", "batch": 8, "tokens": 150,
//!  "device": "cpu", "dtype": "f32", "threads": 2, "cpu": "AMD EPYC", "eval_samples_per_s": 4.1,
//!  "train_samples_per_s": 2.0, "eval_batch_s": 1.95, "train_batch_s": 4.0,
//!  "train_forward_s": 1.7, "train_backward_s": 2.3,
//!  "eval_runs_s": [...], "train_runs_s": [...], "peak_rss_mb": 1480.0, "reps": 5}
//! ```
//!
//! `benches/reference/bench_torch.py --json` prints the same keys for PyTorch + peft (all but
//! the forward/backward split of a train step).
//!
//! `collm bench tui [--json]` times the TUI's views drawing the store's runs (see
//! [`crate::tui::bench`]).
//!
//! `collm bench cache [--json]` times CoLLM stage-2 steps (batch 16 of ml-1m-collm hybrid
//! prompts, CIE training, LoRA frozen) with and without the prompt-prefix cache, from the same
//! weights, and reports the loss difference of the two paths: at the first step 0 up to rounding
//! (the cache is exact), later larger (AdamW's first updates amplify rounding; see `CacheBench`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use candle_core::{DType, Device};
use clap::Subcommand;
use collm_llm::bench::{bench_llm, cpu_model, device_name, gpu_model, BenchOptions, BenchReport};
use collm_llm::{Backbone, DTypeSpec, DeviceSpec, LoraConfig};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, Subcommand)]
pub enum What {
    /// Scoring and LoRA train-step throughput of an LLM backbone on one batch shape.
    Llm(LlmArgs),
    /// Stage-2 step time with and without the prompt-prefix cache (ml-1m-collm prompts).
    Cache(CacheArgs),
    /// Milliseconds the TUI's views take to draw the store's runs (off screen).
    Tui(TuiArgs),
}

#[derive(Debug, clap::Args)]
pub struct TuiArgs {
    /// Terminal columns.
    #[arg(long, default_value_t = 160)]
    pub width: u16,
    /// Terminal rows.
    #[arg(long, default_value_t = 45)]
    pub height: u16,
    /// Frames drawn per view.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// A registered model name, `tiny-random` (built in), or a path to a GGUF file / Hugging
    /// Face folder.
    #[arg(long)]
    pub model: Option<String>,
    /// A dataset folder in the CoLLM layout (default: shared/data/ml-1m-collm beside the checkout).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Steps per measured path.
    #[arg(long, default_value_t = 4)]
    pub steps: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[command(flatten)]
    pub compute: Compute,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    /// A registered model name, `tiny-random` (built in), or a path to a GGUF file / Hugging
    /// Face folder (default: the registered default, pulled if missing).
    #[arg(long)]
    pub model: Option<String>,
    /// Rows per batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Positions per row (padding included).
    #[arg(long, default_value_t = 150)]
    pub tokens: usize,
    #[command(flatten)]
    pub compute: Compute,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Untimed warm-up runs before each measurement.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where, and in which precision, a bench runs its model.
#[derive(Debug, clap::Args)]
pub struct Compute {
    /// `auto` (a GPU when this build has CUDA and one answers), `cpu` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// The base model's precision: `auto` (f32 on the CPU, bf16 on a GPU), `f32` or `bf16`.
    #[arg(long, default_value = "auto")]
    pub dtype: DTypeSpec,
}

impl Compute {
    /// The device, opened, and the dtype the model loads in there.
    fn open(&self) -> anyhow::Result<(Device, DType)> {
        let device = self.device.resolve()?;
        let dtype = self.dtype.resolve(&device);
        Ok((device, dtype))
    }
}

/// The printed result: the measurement and what it was measured on.
#[derive(Debug, Serialize)]
struct Output {
    #[serde(rename = "impl")]
    implementation: &'static str,
    model: String,
    device: String,
    dtype: String,
    cpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu: Option<String>,
    #[serde(flatten)]
    report: BenchReport,
}

pub fn execute(args: Args, ctx: &super::Context) -> anyhow::Result<()> {
    match args.what {
        What::Llm(args) => bench_llm_command(args),
        What::Cache(args) => bench_cache_command(args),
        What::Tui(args) => bench_tui_command(args, ctx),
    }
}

fn bench_tui_command(args: TuiArgs, ctx: &super::Context) -> anyhow::Result<()> {
    let store = collm_store::Store::open_existing(&ctx.store_dir)?;
    let times = crate::tui::bench::frame_times(&store, args.width, args.height, args.frames)?;
    if args.json {
        println!("{}", serde_json::to_string(&times)?);
        return Ok(());
    }
    println!(
        "{} runs, {}x{}, {} frames a view; reading the runs once: {:.2} ms",
        times.runs, times.width, times.height, times.frames, times.load_ms
    );
    for v in &times.views {
        println!("{:<36} {:>8.3} ms a frame", v.view, v.ms_per_frame);
    }
    Ok(())
}

fn bench_cache_command(args: CacheArgs) -> anyhow::Result<()> {
    let data = args.data.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ml-1m-collm")
    });
    let dataset = collm_data::Dataset::load_dir(&data)?;
    // The stage is built as a run's is, and refuses evaluation rows of one label; it never
    // evaluates here, and 64 rows of a real split hold both.
    let cfg: collm_pipeline::PipelineConfig = toml::from_str(&format!(
        "[slots]\ncf = {{ kind = \"mf\", dim = 256 }}\ncf_init = \"scratch\"\n[[stages]]\nprompt = \"hybrid\"\n\
         train = [\"mapping\"]\nmax_steps = {s}\nbatch_size = {b}\ntrain_rows = {r}\neval_rows = 64\n",
        s = args.steps,
        b = args.batch,
        r = args.steps * args.batch
    ))?;
    let backbone = find_backbone(args.model.as_deref())?;
    let (device, dtype) = args.compute.open()?;
    let (llm, tokenizer) = backbone.load(Some(&cfg.lora), &device, dtype)?;
    let mut model =
        collm_pipeline::CollmModel::build(&cfg, llm, tokenizer, &dataset, Path::new("."))?;
    let plan = &collm_pipeline::pipeline::plans(&cfg, Path::new("."))[0];
    let r = collm_pipeline::bench::bench_stage2_cache(&mut model, &dataset, plan, args.steps)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "stage-2 step, batch {} ({:.0} prefix + {:.0} suffix tokens): uncached {:.3} s, cached {:.3} s \
             (first visit {:.3} s): {:.2}x faster; loss difference {:.1e} at the first step, {:.1e} at most; \
             the process's first step (not counted) {:.1} s",
            r.batch_size,
            r.prefix_tokens,
            r.suffix_tokens,
            r.uncached_step_secs,
            r.cached_step_secs,
            r.first_visit_step_secs,
            r.uncached_step_secs / r.cached_step_secs,
            r.first_loss_diff,
            r.max_loss_diff,
            r.warmup_step_secs
        );
    }
    Ok(())
}

fn bench_llm_command(args: LlmArgs) -> anyhow::Result<()> {
    let (device, dtype) = args.compute.open()?;
    let backbone = find_backbone(args.model.as_deref())?;
    let (llm, tokenizer) = backbone
        .load(Some(&LoraConfig::default()), &device, dtype)
        .with_context(|| format!("loading {}", backbone.label()))?;
    let yes_id = tokenizer.token_id("Yes")?;
    let opts = BenchOptions {
        batch: args.batch,
        tokens: args.tokens,
        warmup: args.warmup,
        reps: args.reps,
        yes_id,
    };
    let report = bench_llm(&llm, &opts)?;
    let model = backbone.label();
    let out = Output {
        implementation: "collm",
        model,
        device: device_name(&device),
        dtype: format!("{:?}", llm.dtype()).to_lowercase(),
        cpu: cpu_model(),
        gpu: gpu_model(&device),
        report,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print_table(&out);
    }
    Ok(())
}

/// A path as given, `tiny-random`, else a registered name, else the registered default (pulled
/// if missing).
fn find_backbone(model: Option<&str>) -> anyhow::Result<Backbone> {
    // The pull's steps are news for whoever waits on the command, not warnings.
    let mut progress = |msg: &str| eprintln!("{msg}");
    Backbone::find(&crate::paths::models_dir(), model, &mut progress).with_context(|| match model {
        Some(name) => format!("`{name}` is neither a file nor a known model"),
        None => "the default model".to_string(),
    })
}

fn print_table(out: &Output) {
    let r = &out.report;
    let rss = r
        .peak_rss_mb
        .map_or("unknown".to_string(), |mb| format!("{mb:.0} MiB"));
    let rows = [
        ("model", out.model.clone()),
        (
            "device",
            format!("{} ({}, {} threads)", out.device, out.dtype, r.threads),
        ),
        ("cpu", out.cpu.clone().unwrap_or_else(|| "unknown".into())),
        ("gpu", out.gpu.clone().unwrap_or_else(|| "none".into())),
        ("shape", format!("batch {} x {} tokens", r.batch, r.tokens)),
        (
            "scoring",
            format!(
                "{:.2} samples/s ({:.3} s/batch)",
                r.eval_samples_per_s, r.eval_batch_s
            ),
        ),
        (
            "train step",
            format!(
                "{:.2} samples/s ({:.3} s/batch: forward {:.3} s, backward + AdamW {:.3} s)",
                r.train_samples_per_s, r.train_batch_s, r.train_forward_s, r.train_backward_s
            ),
        ),
        ("peak RSS", rss),
        (
            "GPU memory",
            r.gpu_mem_mb
                .map_or("-".to_string(), |mb| format!("{mb:.0} MiB in use at most")),
        ),
        ("repetitions", format!("{} (median)", r.reps)),
    ];
    for (k, v) in rows {
        println!("{k:>12}  {v}");
    }
}
