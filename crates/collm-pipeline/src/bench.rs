//! The stage-2 cache benchmark: the same training steps with and without the prompt-prefix
//! cache, timed, with their losses compared (they must agree: the cache is exact).

use std::time::Instant;

use candle_core::Tensor;
use collm_data::Dataset;

use crate::error::{PipelineError, Result};
use crate::model::CollmModel;
use crate::optim::AdamW;
use crate::prefix_cache::PrefixCache;
use crate::stage::{batch_loss, StageData, StagePlan};

/// What the benchmark measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheBench {
    pub steps: usize,
    pub batch_size: usize,
    pub threads: usize,
    /// Mean tokens per sample before the first slot (cached) and from it on (run each step).
    pub prefix_tokens: f64,
    pub suffix_tokens: f64,
    /// Seconds of the warm-up step: the process's first (uncached, no optimizer step; not in
    /// the means below).
    pub warmup_step_secs: f64,
    /// Seconds per step: the full prompt with gradient.
    pub uncached_step_secs: f64,
    /// Seconds per step on the first visit of each batch (its prefix computed, then kept).
    pub first_visit_step_secs: f64,
    /// Seconds per step once every prefix is cached (every later pass of the stage).
    pub cached_step_secs: f64,
    /// The largest difference between the cached and uncached loss at the first step: the
    /// same weights scored two ways, so rounding only (the cache is exact).
    pub first_loss_diff: f64,
    /// The largest difference at any step. Later steps drift further: AdamW's first updates are
    /// about `lr * sign(gradient)`, so a gradient entry near 0 that rounds to the other sign
    /// moves its weight by up to twice the learning rate.
    pub max_loss_diff: f64,
    pub prefix_cache_mib: f64,
    /// Rows a second, from the step times above.
    pub uncached_samples_per_s: f64,
    pub first_visit_samples_per_s: f64,
    pub cached_samples_per_s: f64,
    /// The process's peak resident memory (VmHWM), model loading included.
    pub peak_rss_mb: Option<f64>,
}

fn snapshot(vars: &[crate::mapping::NamedVar]) -> Result<Vec<Tensor>> {
    Ok(vars
        .iter()
        .map(|(_, v)| v.as_tensor().copy())
        .collect::<candle_core::Result<_>>()?)
}

fn restore(vars: &[crate::mapping::NamedVar], saved: &[Tensor]) -> Result<()> {
    for ((_, v), t) in vars.iter().zip(saved) {
        v.set(t)?;
    }
    Ok(())
}

/// Runs `plan` (a stage that trains the mapping with LoRA frozen) for `steps` steps three times
/// from the same weights, after one untimed warm-up step: uncached, cached while filling the
/// cache, cached with a warm cache.
pub fn bench_stage2_cache(
    model: &mut CollmModel,
    dataset: &Dataset,
    plan: &StagePlan,
    steps: usize,
) -> Result<CacheBench> {
    let cfg = &plan.config;
    if !crate::stage::can_cache(cfg) {
        return Err(PipelineError::config(
            "stages",
            "the cache benchmark needs a hybrid-prompt stage with LoRA frozen",
        ));
    }
    let data = StageData::prepare(model, dataset, plan)?;
    // Every timed step a full batch: a short one would be timed as if it held the batch.
    let full = data
        .batches
        .iter()
        .take(steps)
        .filter(|b| b.len() == cfg.batch_size);
    if full.count() < steps {
        return Err(PipelineError::Data(format!(
            "{steps} {} of {} rows {} {} training rows (--steps x --batch); the \
                 dataset has {}",
            if steps == 1 { "step" } else { "steps" },
            cfg.batch_size,
            if steps == 1 { "needs" } else { "need" },
            steps * cfg.batch_size,
            data.train.len()
        )));
    }
    let longest = data.batches[..steps]
        .iter()
        .flatten()
        .map(|&i| data.train[i].tokens.ids.len())
        .max()
        .unwrap_or(0);
    let shape = format!(
        "a batch of {} prompts of up to {longest} tokens",
        cfg.batch_size
    );
    let available = collm_llm::bench::available_memory(model.llm.device());
    collm_llm::bench::check_fits(&model.llm, cfg.batch_size, longest, available, &shape)
        .map_err(|e| PipelineError::Upstream(e.to_string()))?;
    model.set_trainable(false, false);
    let vars = model.vars(&cfg.train)?;
    let start = snapshot(&vars)?;
    let mut cache = PrefixCache::new(usize::MAX, model.kv_bytes_per_position());
    let run = |cache: Option<&mut PrefixCache>| -> Result<(f64, Vec<f64>)> {
        restore(&vars, &start)?;
        let mut opt = AdamW::new(vars.clone(), cfg.weight_decay)?;
        let mut cache = cache;
        let mut losses = Vec::new();
        let t0 = Instant::now();
        for b in 0..steps {
            let loss = batch_loss(model, &data, b, cache.as_deref_mut())?;
            let grads = loss.backward()?;
            opt.step(&grads, cfg.lr)?;
            losses.push(loss.to_scalar::<f32>()? as f64);
        }
        Ok((t0.elapsed().as_secs_f64() / steps as f64, losses))
    };
    // One untimed step first: the process's first forward and backward also grows the
    // allocator's pools and the matmul kernels' buffers (about 1.5 s more than a later step on
    // the development CPU), which would otherwise be charged to whichever path runs first.
    let t0 = Instant::now();
    batch_loss(model, &data, 0, None)?.backward()?;
    let warmup_step_secs = t0.elapsed().as_secs_f64();
    let (uncached, l0) = run(None)?;
    let (first, l1) = run(Some(&mut cache))?;
    let (cached, l2) = run(Some(&mut cache))?;
    let max_diff = |upto: usize| {
        l0.iter()
            .zip(&l1)
            .take(upto)
            .chain(l0.iter().zip(&l2).take(upto))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let (first_loss_diff, max_loss_diff) = (max_diff(1), max_diff(steps));
    let used: Vec<&crate::model::Encoded> = data.batches[..steps]
        .iter()
        .flatten()
        .map(|&i| &data.train[i])
        .collect();
    let n = used.len() as f64;
    let prefix_tokens = used
        .iter()
        .map(|s| s.tokens.prefix_len() as f64)
        .sum::<f64>()
        / n;
    let suffix_tokens = used
        .iter()
        .map(|s| (s.tokens.ids.len() - s.tokens.prefix_len()) as f64)
        .sum::<f64>()
        / n;
    restore(&vars, &start)?;
    let per_s = |secs: f64| cfg.batch_size as f64 / secs;
    Ok(CacheBench {
        steps,
        batch_size: cfg.batch_size,
        threads: candle_core::utils::get_num_threads(),
        prefix_tokens,
        suffix_tokens,
        warmup_step_secs,
        uncached_step_secs: uncached,
        first_visit_step_secs: first,
        cached_step_secs: cached,
        first_loss_diff,
        max_loss_diff,
        prefix_cache_mib: cache.bytes() as f64 / 1048576.0,
        uncached_samples_per_s: per_s(uncached),
        first_visit_samples_per_s: per_s(first),
        cached_samples_per_s: per_s(cached),
        peak_rss_mb: collm_llm::bench::peak_rss_mb(),
    })
}
