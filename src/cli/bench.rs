//! `collm bench`: throughput measurements of the LLM, the training stages and the TUI.
//!
//! `collm bench llm --json` prints one object:
//!
//! ```json
//! {"impl": "collm", "model": "SmolLM2-135M-Instruct.Q4_1.gguf", "batch": 8, "tokens": 150,
//!  "device": "cpu", "dtype": "f32", "threads": 2, "cpu": "AMD EPYC", "eval_samples_per_s": 4.1,
//!  "train_samples_per_s": 2.0, "eval_batch_s": 1.95, "train_batch_s": 4.0,
//!  "train_forward_s": 1.7, "train_backward_s": 2.3,
//!  "eval_runs_s": [...], "train_runs_s": [...], "peak_rss_mb": 1480.0, "reps": 5,
//!  "warmup": 2}
//! ```
//!
//! `benches/reference/bench_torch.py --json` prints the same keys for PyTorch + peft but the
//! forward/backward split of a train step and the per-run times, and adds `attn` and `torch`
//! (its attention implementation and version).
//!
//! `collm bench tui [--json]` times the TUI's views drawing the store's runs (see
//! [`crate::tui::bench`]).
//!
//! `collm bench cache [--json]` times CoLLM stage-2 steps (batch 16 of ml-1m-collm hybrid
//! prompts, CIE training, LoRA frozen) with and without the prompt-prefix cache, from the same
//! weights, and reports the loss difference of the two paths: at the first step 0 up to rounding
//! (the cache is exact), later larger (AdamW's first updates amplify rounding; see `CacheBench`).
//! Its JSON holds `CacheBench`'s fields beside the model and machine keys of `bench llm`.

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
    /// Rows per step (hybrid prompts of the dataset's training split).
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

/// The printed result: a measurement and what it was measured on.
#[derive(Debug, Serialize)]
struct Output<R> {
    #[serde(rename = "impl")]
    implementation: &'static str,
    model: String,
    device: String,
    dtype: String,
    cpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu: Option<String>,
    #[serde(flatten)]
    report: R,
}

impl<R> Output<R> {
    fn new(backbone: &Backbone, llm: &collm_llm::Llm, report: R) -> Self {
        Output {
            implementation: "collm",
            model: backbone.label(),
            device: device_name(llm.device()),
            dtype: format!("{:?}", llm.dtype()).to_lowercase(),
            cpu: cpu_model(),
            gpu: gpu_model(llm.device()),
            report,
        }
    }

    /// The table's first rows: the model and the machine.
    fn machine_rows(&self, threads: usize) -> Vec<(&'static str, String)> {
        vec![
            ("model", self.model.clone()),
            (
                "device",
                format!(
                    "{} ({}, {})",
                    self.device,
                    self.dtype,
                    super::report::plural(threads, "thread")
                ),
            ),
            ("cpu", self.cpu.clone().unwrap_or_else(|| "unknown".into())),
            ("gpu", self.gpu.clone().unwrap_or_else(|| "none".into())),
        ]
    }
}

/// Prints `rows` as the bench tables do: names right-aligned, then values.
fn print_rows(rows: &[(&str, String)]) {
    for (k, v) in rows {
        println!("{k:>12}  {v}");
    }
}

/// A peak resident memory as the tables print it.
fn rss(peak_rss_mb: Option<f64>) -> String {
    peak_rss_mb.map_or("unknown".to_string(), |mb| format!("{mb:.0} MiB"))
}

pub fn execute(args: Args, ctx: &super::Context) -> anyhow::Result<()> {
    match args.what {
        What::Llm(args) => bench_llm_command(args),
        What::Cache(args) => bench_cache_command(args),
        What::Tui(args) => bench_tui_command(args, ctx),
    }
}

fn bench_tui_command(args: TuiArgs, ctx: &super::Context) -> anyhow::Result<()> {
    // A median settles in far fewer; a typo of more would run for days.
    anyhow::ensure!(
        (1..=100_000).contains(&args.frames),
        "bench: --frames takes 1 to 100000 frames a view"
    );
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
    let cpu = times.cpu.as_deref().unwrap_or("unknown");
    println!("on {cpu}, peak RSS {}", rss(times.peak_rss_mb));
    for v in &times.views {
        println!("{:<36} {:>8.3} ms a frame", v.view, v.ms_per_frame);
    }
    Ok(())
}

fn bench_cache_command(args: CacheArgs) -> anyhow::Result<()> {
    let data = args.data.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ml-1m-collm")
    });
    anyhow::ensure!(args.steps >= 1, "bench: --steps must be at least 1");
    // Checked before the model loads: past this a typo aborts the process on an allocation.
    let most = collm_llm::bench::MAX_BATCH;
    anyhow::ensure!(
        (1..=most).contains(&args.batch),
        "bench: --batch {} is not within 1 to {most} rows (a stage's batches are tens of rows)",
        args.batch
    );
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
    let report = collm_pipeline::bench::bench_stage2_cache(&mut model, &dataset, plan, args.steps)?;
    let out = Output::new(&backbone, &model.llm, report);
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let r = &out.report;
    let path = |per_s: f64, secs: f64| format!("{per_s:.2} samples/s ({secs:.3} s/step)");
    let mut rows = out.machine_rows(r.threads);
    rows.extend([
        (
            "shape",
            format!(
                "stage-2 steps of {} hybrid prompts ({:.0} prefix + {:.0} suffix tokens on \
                 average), {} a path",
                r.batch_size,
                r.prefix_tokens,
                r.suffix_tokens,
                super::report::plural(r.steps, "step")
            ),
        ),
        (
            "uncached",
            path(r.uncached_samples_per_s, r.uncached_step_secs),
        ),
        (
            "first visit",
            format!(
                "{}, computing each prefix and keeping it",
                path(r.first_visit_samples_per_s, r.first_visit_step_secs)
            ),
        ),
        (
            "cached",
            format!(
                "{}: {:.2}x the uncached rate",
                path(r.cached_samples_per_s, r.cached_step_secs),
                r.uncached_step_secs / r.cached_step_secs
            ),
        ),
        (
            "loss diff",
            format!(
                "{:.1e} at the first step, {:.1e} at most",
                r.first_loss_diff, r.max_loss_diff
            ),
        ),
        (
            "cache",
            format!("{:.1} MiB of keys and values", r.prefix_cache_mib),
        ),
        ("peak RSS", rss(r.peak_rss_mb)),
        (
            "warm-up",
            format!(
                "{:.1} s (the process's first step, not counted)",
                r.warmup_step_secs
            ),
        ),
    ]);
    print_rows(&rows);
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
    let out = Output::new(&backbone, &llm, report);
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

fn print_table(out: &Output<BenchReport>) {
    let r = &out.report;
    let mut rows = out.machine_rows(r.threads);
    rows.extend([
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
            // Each part is its own median, so the two need not add up to the step's.
            format!(
                "{:.2} samples/s ({:.3} s/batch; medians of its parts: forward {:.3} s, \
                 backward + AdamW {:.3} s)",
                r.train_samples_per_s, r.train_batch_s, r.train_forward_s, r.train_backward_s
            ),
        ),
        ("peak RSS", rss(r.peak_rss_mb)),
        (
            "GPU memory",
            r.gpu_mem_mb
                .map_or("-".to_string(), |mb| format!("{mb:.0} MiB in use at most")),
        ),
        (
            "repetitions",
            format!("{} (median), after {} untimed", r.reps, r.warmup),
        ),
    ]);
    print_rows(&rows);
}
