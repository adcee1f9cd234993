//! Throughput of one model at one batch shape: scoring and LoRA training steps per second.
//!
//! The workload is CoLLM's: a batch of left-padded prompts, the "Yes" logit at each row's last
//! real token (only that vocabulary row is multiplied), and for training BCE on that logit,
//! backward and AdamW over the LoRA parameters. `benches/reference/bench_torch.py` measures the
//! same in PyTorch + peft, with the same padding pattern.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::{Llm, LlmConfig, LlmError, Result};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub batch: usize,
    /// Positions per row, padding included.
    pub tokens: usize,
    /// Untimed runs before each measurement (allocator and thread-pool warm-up).
    pub warmup: usize,
    /// Timed runs per measurement; the median is reported.
    pub reps: usize,
    /// The vocabulary row scored ("Yes").
    pub yes_id: u32,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            batch: 8,
            tokens: 150,
            warmup: 2,
            reps: 5,
            yes_id: 0,
        }
    }
}

/// Measured throughput. Times are medians over `reps` runs of one batch.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub batch: usize,
    pub tokens: usize,
    pub threads: usize,
    pub eval_samples_per_s: f64,
    pub train_samples_per_s: f64,
    pub eval_batch_s: f64,
    pub train_batch_s: f64,
    /// A train step's forward pass (to the loss) and the rest (backward and AdamW).
    pub train_forward_s: f64,
    pub train_backward_s: f64,
    /// Every timed run, in seconds (scoring, then training).
    pub eval_runs_s: Vec<f64>,
    pub train_runs_s: Vec<f64>,
    /// The process's peak resident memory so far (VmHWM), model loading included.
    pub peak_rss_mb: Option<f64>,
    /// On a GPU: the most device memory in use at the end of any forward pass or step (the
    /// whole device's, CUDA context included, as `nvidia-smi` counts it); absent on the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_mem_mb: Option<f64>,
    pub reps: usize,
    /// Untimed runs before each measurement.
    pub warmup: usize,
}

/// The largest batch measured: a stage's batches are tens of rows.
pub const MAX_BATCH: usize = 4096;
/// The most runs of a measurement, warm-up or timed: the median settles in a handful.
const MAX_REPS: usize = 10_000;

/// Bytes a training step of `batch` rows of `tokens` positions keeps for its backward pass,
/// roughly: in every layer the attention scores and probabilities (batch x heads x tokens² each)
/// and about a dozen activations of the hidden and MLP widths. An estimate to refuse hopeless
/// sizes with (a failed allocation aborts the process), not a prediction of the peak.
pub fn training_activation_bytes(
    cfg: &LlmConfig,
    batch: usize,
    tokens: usize,
    dtype: DType,
) -> f64 {
    let (b, t) = (batch as f64, tokens as f64);
    let attention = 2.0 * b * cfg.num_heads as f64 * t * t;
    let widths = b * t * (6 * cfg.hidden_size + 3 * cfg.intermediate_size) as f64;
    cfg.num_layers as f64 * (attention + widths) * dtype.size_in_bytes() as f64
}

/// Refuses a training step of `batch` x `tokens` on `llm` whose activations alone would not fit
/// in the memory `available` (bytes; `None`: unknown, nothing refused). `what` names the shape
/// as the command's user gave it.
pub fn check_fits(
    llm: &Llm,
    batch: usize,
    tokens: usize,
    available: Option<u64>,
    what: &str,
) -> Result<()> {
    let need = training_activation_bytes(llm.config(), batch, tokens, llm.dtype());
    match available {
        Some(have) if need > have as f64 => Err(LlmError::Input(format!(
            "bench: {what} needs about {:.1} GiB for a training step's activations (the \
             attention alone is batch x {} heads x tokens² in each of {} layers); {:.1} GiB of \
             memory is available",
            need / GIB,
            llm.config().num_heads,
            llm.config().num_layers,
            have as f64 / GIB
        ))),
        _ => Ok(()),
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The memory a computation on `device` can still take, in bytes: the system's available
/// memory (`MemAvailable`, Linux) on the CPU; `None` on a GPU (its allocator reports a failed
/// allocation as an error) or when unknown.
pub fn available_memory(device: &Device) -> Option<u64> {
    if !device.is_cpu() {
        return None;
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs the scoring and training measurements on `llm`, which must carry LoRA adapters.
/// Trains the adapters as a side effect (a few AdamW steps on random data).
pub fn bench_llm(llm: &Llm, opts: &BenchOptions) -> Result<BenchReport> {
    if opts.batch == 0 || opts.tokens == 0 || opts.reps == 0 {
        return Err(LlmError::Input(
            "bench: batch, tokens and reps must be positive".into(),
        ));
    }
    // Checked before the workload is allocated: a typo of a size aborts the process there.
    let most = llm.config.max_position_embeddings;
    if opts.tokens > most {
        return Err(LlmError::Input(format!(
            "bench: --tokens {} exceeds the model's {most} positions",
            opts.tokens
        )));
    }
    if opts.batch > MAX_BATCH {
        return Err(LlmError::Input(format!(
            "bench: --batch {} is past {MAX_BATCH} rows, more than any stage scores at once",
            opts.batch
        )));
    }
    if opts.reps > MAX_REPS || opts.warmup > MAX_REPS {
        return Err(LlmError::Input(format!(
            "bench: --reps and --warmup take at most {MAX_REPS} runs (got {} and {})",
            opts.reps, opts.warmup
        )));
    }
    let shape = format!("--batch {} --tokens {}", opts.batch, opts.tokens);
    check_fits(
        llm,
        opts.batch,
        opts.tokens,
        available_memory(llm.device()),
        &shape,
    )?;
    let vars: Vec<Var> = llm.lora_vars().into_iter().map(|(_, v)| v).collect();
    if vars.is_empty() {
        return Err(LlmError::Lora(
            "bench: the model has no LoRA adapters to train".into(),
        ));
    }
    let (embeds, mask, labels) = workload(llm, opts)?;
    let rows = [opts.yes_id];
    let device = llm.device();
    let mut gpu_mem = GpuMemory::default();

    let score = || -> Result<()> {
        llm.set_lora_dropout(false);
        let hidden = llm.last_hidden(&embeds, &mask, None)?;
        let logits = llm.score_rows(&hidden, &rows)?;
        // Reading the values forces the computation on lazy devices.
        logits.to_vec2::<f32>()?;
        Ok(())
    };
    let params = ParamsAdamW {
        lr: 1e-4,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars, params)?;
    // How long each train step's forward pass took (to the loss), warm-up runs included.
    let mut forward_runs = Vec::new();
    let mut train_step = || -> Result<()> {
        let start = Instant::now();
        llm.set_lora_dropout(true);
        let hidden = llm.last_hidden(&embeds, &mask, None)?;
        let logits = llm.score_rows(&hidden, &rows)?.squeeze(1)?;
        let loss = bce_with_logits(&logits, &labels)?;
        loss.to_scalar::<f32>()?;
        forward_runs.push(start.elapsed().as_secs_f64());
        gpu_mem.sample(device);
        opt.backward_step(&loss)?;
        gpu_mem.sample(device);
        Ok(())
    };

    let eval_runs = timed(opts, device, score)?;
    let train_runs = timed(opts, device, &mut train_step)?;
    llm.set_lora_dropout(false);
    let forward_runs = &forward_runs[opts.warmup..];
    let backward_runs: Vec<f64> = train_runs
        .iter()
        .zip(forward_runs)
        .map(|(total, forward)| total - forward)
        .collect();
    let (eval_s, train_s) = (median(&eval_runs), median(&train_runs));
    Ok(BenchReport {
        batch: opts.batch,
        tokens: opts.tokens,
        threads: candle_core::utils::get_num_threads(),
        eval_samples_per_s: opts.batch as f64 / eval_s,
        train_samples_per_s: opts.batch as f64 / train_s,
        eval_batch_s: eval_s,
        train_batch_s: train_s,
        train_forward_s: median(forward_runs),
        train_backward_s: median(&backward_runs),
        eval_runs_s: eval_runs,
        train_runs_s: train_runs,
        peak_rss_mb: peak_rss_mb(),
        gpu_mem_mb: gpu_mem.peak_mb,
        reps: opts.reps,
        warmup: opts.warmup,
    })
}

/// Seeded embeddings of random token ids `[B, T, H]`, a key mask with row i left-padded by
/// (3i mod 17) positions (as `bench_torch.py`), and alternating 0/1 labels.
fn workload(llm: &Llm, opts: &BenchOptions) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, t) = (opts.batch, opts.tokens);
    let vocab = llm.config().vocab_size as u32;
    let mut rng = StdRng::seed_from_u64(1);
    let ids: Vec<u32> = (0..b * t).map(|_| rng.gen_range(0..vocab)).collect();
    let ids = Tensor::from_vec(ids, (b, t), llm.device())?;
    let embeds = llm.embed_tokens(&ids)?;
    let mut mask = vec![1u32; b * t];
    for row in 0..b {
        // Every row keeps at least one real token.
        let pad = ((3 * row) % 17).min(t - 1);
        mask[row * t..row * t + pad].iter_mut().for_each(|m| *m = 0);
    }
    let mask = Tensor::from_vec(mask, (b, t), llm.device())?;
    let labels: Vec<f32> = (0..b).map(|i| (i % 2) as f32).collect();
    let labels = Tensor::from_vec(labels, b, llm.device())?;
    Ok((embeds, mask, labels))
}

/// Mean binary cross-entropy on logits, stable for large |s|: relu(s) − s·y + log(1 + e^−|s|).
/// The training loss (`collm_cf::loss`), written again here: this crate sits below the
/// collaborative models, and the bench's backward pass needs a loss of the same cost.
fn bce_with_logits(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let logits = logits.to_dtype(DType::F32)?;
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((logits.relu()? - (&logits * labels)? + softplus)?.mean_all()?)
}

/// `opts.warmup` untimed runs, then the durations of `opts.reps` timed ones. A GPU runs
/// kernels asynchronously, so each run ends when the device has finished its work.
fn timed(
    opts: &BenchOptions,
    device: &Device,
    mut run: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    for _ in 0..opts.warmup {
        run()?;
        device.synchronize()?;
    }
    let mut times = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let start = Instant::now();
        run()?;
        device.synchronize()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(times)
}

/// The most GPU memory seen in use over a measurement.
#[derive(Default)]
struct GpuMemory {
    peak_mb: Option<f64>,
}

impl GpuMemory {
    fn sample(&mut self, device: &Device) {
        if let Some(now) = gpu_mem_used_mb(device) {
            self.peak_mb = Some(self.peak_mb.map_or(now, |peak| peak.max(now)));
        }
    }
}

/// Memory in use on `device` if it is a GPU, in MiB (the whole device's).
#[cfg(feature = "cuda")]
fn gpu_mem_used_mb(device: &Device) -> Option<f64> {
    let Device::Cuda(gpu) = device else {
        return None;
    };
    let (free, total) = gpu.cuda_stream().context().mem_get_info().ok()?;
    Some((total - free) as f64 / (1024.0 * 1024.0))
}

#[cfg(not(feature = "cuda"))]
fn gpu_mem_used_mb(_device: &Device) -> Option<f64> {
    None
}

/// The GPU's model name ("NVIDIA H200"), if `device` is one.
#[cfg(feature = "cuda")]
pub fn gpu_model(device: &Device) -> Option<String> {
    let Device::Cuda(gpu) = device else {
        return None;
    };
    gpu.cuda_stream().context().name().ok()
}

#[cfg(not(feature = "cuda"))]
pub fn gpu_model(_device: &Device) -> Option<String> {
    None
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak resident set size of this process in MiB (`VmHWM` in /proc/self/status; Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The CPU's model name (first `model name` in /proc/cpuinfo), if known.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// A short name for a device ("cpu", "cuda:0").
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LoraConfig;

    #[test]
    fn measures_the_tiny_model_and_trains_its_adapters() -> Result<()> {
        let (llm, _tok) = Llm::tiny_random(3, Some(&LoraConfig::default()), &Device::Cpu)?;
        let before: Vec<Tensor> = llm
            .lora_vars()
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        let opts = BenchOptions {
            batch: 3,
            tokens: 7,
            warmup: 1,
            reps: 2,
            yes_id: 5,
        };
        let report = bench_llm(&llm, &opts)?;
        assert!(report.eval_samples_per_s > 0.0 && report.train_samples_per_s > 0.0);
        assert_eq!(
            (report.eval_runs_s.len(), report.train_runs_s.len()),
            (2, 2)
        );
        assert!(report.peak_rss_mb.is_some_and(|mb| mb > 1.0));
        assert!(report.train_forward_s > 0.0 && report.train_backward_s > 0.0);
        assert!(report.train_forward_s < report.train_runs_s.iter().cloned().fold(0.0, f64::max));
        // Every adapter tensor moved: the train step really optimises them.
        for ((name, var), old) in llm.lora_vars().iter().zip(&before) {
            let change = (var.as_tensor() - old)?
                .abs()?
                .sum_all()?
                .to_scalar::<f32>()?;
            assert!(change > 0.0, "{name} did not change");
        }
        Ok(())
    }

    /// Sizes past the model or any stage are refused before the workload is allocated (a
    /// typo of `--tokens` aborted the process on a failed allocation).
    #[test]
    fn rejects_sizes_past_the_model_before_allocating() -> Result<()> {
        let (llm, _tok) = Llm::tiny_random(3, Some(&LoraConfig::default()), &Device::Cpu)?;
        let past = llm.config.max_position_embeddings + 1;
        for (batch, tokens, flag) in [(1, past, "--tokens"), (usize::MAX, 4, "--batch")] {
            let opts = BenchOptions {
                batch,
                tokens,
                ..BenchOptions::default()
            };
            let err = bench_llm(&llm, &opts).unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
        Ok(())
    }

    /// A shape within both limits whose activations cannot fit is refused with the estimate
    /// (16 x 8000 on SmolLM2 aborted the process on a failed allocation of its scores).
    #[test]
    fn refuses_a_shape_whose_activations_do_not_fit() -> Result<()> {
        let (llm, _tok) = Llm::tiny_random(3, Some(&LoraConfig::default()), &Device::Cpu)?;
        let gib = 1u64 << 30;
        let need = training_activation_bytes(llm.config(), 4096, 1024, DType::F32);
        assert!(need > 8.0 * gib as f64, "{need}");
        let err = check_fits(
            &llm,
            4096,
            1024,
            Some(8 * gib),
            "--batch 4096 --tokens 1024",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--batch 4096 --tokens 1024 needs about") && err.contains("8.0 GiB"),
            "{err}"
        );
        check_fits(&llm, 8, 150, Some(8 * gib), "small")?;
        check_fits(&llm, 4096, 1024, None, "unknown memory")?;
        // SmolLM2's sizes at the default shape: about 1.5 GB, as measured (1.9 GiB peak with
        // the model); the shape that aborted needs terabytes.
        let mut smol = llm.config().clone();
        (
            smol.num_layers,
            smol.num_heads,
            smol.hidden_size,
            smol.intermediate_size,
        ) = (30, 9, 576, 1536);
        let default = training_activation_bytes(&smol, 8, 150, DType::F32) / GIB;
        assert!((1.0..2.0).contains(&default), "{default}");
        assert!(training_activation_bytes(&smol, 16, 8000, DType::F32) / GIB > 1000.0);
        let opts = BenchOptions {
            reps: usize::MAX,
            ..BenchOptions::default()
        };
        let err = bench_llm(&llm, &opts).unwrap_err().to_string();
        assert!(err.contains("--reps"), "{err}");
        Ok(())
    }

    #[test]
    fn rejects_a_model_without_adapters() -> Result<()> {
        let (llm, _tok) = Llm::tiny_random(3, None, &Device::Cpu)?;
        assert!(matches!(
            bench_llm(&llm, &BenchOptions::default()),
            Err(LlmError::Lora(_))
        ));
        Ok(())
    }

    #[test]
    fn bce_matches_the_textbook_formula_and_survives_large_logits() -> Result<()> {
        let s = Tensor::new(&[-2f32, 0.5, 3.0], &Device::Cpu)?;
        let y = Tensor::new(&[0f32, 1.0, 1.0], &Device::Cpu)?;
        let want: f32 = [(-2f32, 0f32), (0.5, 1.0), (3.0, 1.0)]
            .iter()
            .map(|&(s, y)| {
                let p = 1.0 / (1.0 + (-s).exp());
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum::<f32>()
            / 3.0;
        assert!((bce_with_logits(&s, &y)?.to_scalar::<f32>()? - want).abs() < 1e-6);
        let big = bce_with_logits(
            &Tensor::new(&[200f32], &Device::Cpu)?,
            &Tensor::new(&[0f32], &Device::Cpu)?,
        )?;
        assert!((big.to_scalar::<f32>()? - 200.0).abs() < 1e-3);
        Ok(())
    }
}
