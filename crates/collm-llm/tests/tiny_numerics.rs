//! Numerical properties of the decoder on the tiny random model: LoRA at initialisation is a
//! no-op, gradients match finite differences and reach exactly the trainable tensors, splicing,
//! prefix caching and padding change nothing they should not, and cached generation equals
//! recomputation.

use candle_core::{DType, Device, Tensor, Var};
use collm_llm::{splice, DeviceSpec, KvPrefix, Llm, LlmTokenizer, LoraConfig, LoraTarget};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const SEED: u64 = 7;

fn all_targets() -> LoraConfig {
    LoraConfig {
        targets: LoraTarget::ALL.to_vec(),
        ..LoraConfig::default()
    }
}

/// Token ids of `texts`, padded to one length with the pad id on the left (or the right), and
/// the matching 1/0 mask.
fn batch(
    tok: &LlmTokenizer,
    texts: &[&str],
    left: bool,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let rows: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| tok.encode(t))
        .collect::<std::result::Result<_, _>>()?;
    let len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let (mut ids, mut mask): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for row in &rows {
        let pad = len - row.len();
        let (real_ids, real_mask) = (row.clone(), vec![1u32; row.len()]);
        let (pad_ids, pad_mask) = (vec![tok.pad_id(); pad], vec![0u32; pad]);
        if left {
            ids.extend(pad_ids.iter().chain(&real_ids));
            mask.extend(pad_mask.iter().chain(&real_mask));
        } else {
            ids.extend(real_ids.iter().chain(&pad_ids));
            mask.extend(real_mask.iter().chain(&pad_mask));
        }
    }
    let shape = (rows.len(), len);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// `COLLM_TEST_DEVICE` (`cpu` when unset): where the checks that name it run.
fn test_device() -> Result<Device> {
    Ok(DeviceSpec::from_env("COLLM_TEST_DEVICE")?.resolve()?)
}

fn yes_no(tok: &LlmTokenizer) -> Result<Vec<u32>> {
    Ok(vec![tok.token_id(" Yes")?, tok.token_id(" No")?])
}

fn scores(
    llm: &Llm,
    embeds: &Tensor,
    mask: &Tensor,
    prefix: Option<&KvPrefix>,
    rows: &[u32],
) -> Result<Tensor> {
    Ok(llm.score_rows(&llm.last_hidden(embeds, mask, prefix)?, rows)?)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let d = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?
        .max(0)?;
    Ok(d.to_scalar::<f64>()?)
}

/// Sets every LoRA B to small random values so that A also influences the output.
fn randomise_b(llm: &Llm, seed: u64) -> Result<()> {
    for (i, (name, var)) in llm.lora_vars().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let t = (seeded_normal(var.elem_count(), seed * 1000 + i as u64)? * 0.3)?;
            var.set(
                &t.reshape(var.dims())?
                    .to_dtype(var.dtype())?
                    .to_device(var.device())?,
            )?;
        }
    }
    Ok(())
}

/// `n` standard normal f64 values on the CPU from `seed` (Box-Muller), so that tolerances are
/// measured on the same numbers every run.
fn seeded_normal(n: usize, seed: u64) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let values: Vec<f64> = (0..n)
        .map(|_| {
            let (u, v): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect();
    Ok(Tensor::from_vec(values, n, &Device::Cpu)?)
}

const TEXTS: [&str; 3] = [
    "<|im_start|>#Question: would the user enjoy the movie? Answer with Yes or No. #Answer:",
    "<|im_start|>the user",
    "<|im_start|>#Answer: Yes, with 42 feature vectors",
];

#[test]
fn lora_with_zero_b_leaves_logits_unchanged() -> Result<()> {
    let device = Device::Cpu;
    let (plain, tok) = Llm::tiny_random(SEED, None, &device)?;
    let (adapted, _) = Llm::tiny_random(SEED, Some(&all_targets()), &device)?;
    assert_eq!(adapted.lora_vars().len(), 2 * 7 * plain.config().num_layers);
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let a = plain.full_logits_last(&plain.embed_tokens(&ids)?, &mask, None)?;
    let b = adapted.full_logits_last(&adapted.embed_tokens(&ids)?, &mask, None)?;
    assert_eq!(max_abs_diff(&a, &b)?, 0.0);
    // A non-zero B does change them, so the comparison above is not vacuous.
    randomise_b(&adapted, 1)?;
    let c = adapted.full_logits_last(&adapted.embed_tokens(&ids)?, &mask, None)?;
    assert!(max_abs_diff(&a, &c)? > 1e-3);
    Ok(())
}

/// Central finite differences of `loss` with respect to chosen elements of `var`.
fn check_var_gradient(
    var: &Var,
    grad: &Tensor,
    picks: &[usize],
    loss: &dyn Fn() -> Result<f64>,
    what: &str,
) -> Result<()> {
    let original = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
    let grad = grad.flatten_all()?.to_vec1::<f64>()?;
    let eps = 1e-5;
    for &i in picks {
        let i = i % original.len();
        let mut values = original.clone();
        values[i] = original[i] + eps;
        var.set(&Tensor::from_vec(values.clone(), var.dims(), var.device())?)?;
        let plus = loss()?;
        values[i] = original[i] - eps;
        var.set(&Tensor::from_vec(values, var.dims(), var.device())?)?;
        let minus = loss()?;
        var.set(&Tensor::from_vec(
            original.clone(),
            var.dims(),
            var.device(),
        )?)?;
        let numeric = (plus - minus) / (2.0 * eps);
        let err = (numeric - grad[i]).abs();
        assert!(
            err <= 1e-6 + 1e-5 * numeric.abs().max(grad[i].abs()),
            "{what}[{i}]: backprop {} vs finite difference {numeric}",
            grad[i]
        );
    }
    Ok(())
}

#[test]
fn gradients_match_finite_differences() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) =
        Llm::tiny_random_with_dtype(SEED, Some(&LoraConfig::default()), &device, DType::F64)?;
    randomise_b(&llm, 2)?;
    let rows = yes_no(&tok)?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let base = llm.embed_tokens(&ids)?;
    let slot_vec = Var::from_tensor(
        &seeded_normal(2 * llm.config().hidden_size, 21)?
            .reshape((2, llm.config().hidden_size))?
            .to_device(&device)?,
    )?;
    let slots = [(0, ids.dim(1)? - 3), (1, ids.dim(1)? - 2)];
    let weights = Tensor::new(&[[1.0f64, -0.5], [0.7, 0.2], [-0.3, 1.1]], &device)?;
    let loss_tensor = || -> Result<Tensor> {
        let embeds = splice(&base, &slots, slot_vec.as_tensor())?;
        let s = scores(&llm, &embeds, &mask, None, &rows)?.to_dtype(DType::F64)?;
        Ok((s * &weights)?.sum_all()?)
    };
    let loss = || -> Result<f64> { Ok(loss_tensor()?.to_scalar::<f64>()?) };
    let grads = loss_tensor()?.backward()?;
    let vars = llm.lora_vars();
    let picks = [0, 17, 101, 250, 333];
    for (name, var) in vars
        .iter()
        .filter(|(n, _)| n.contains("layers.0.") || n.contains("layers.1.self_attn.v_proj"))
    {
        let grad = grads
            .get(var.as_tensor())
            .ok_or_else(|| format!("{name} has no gradient"))?;
        check_var_gradient(var, grad, &picks, &loss, name)?;
    }
    let grad = grads
        .get(slot_vec.as_tensor())
        .ok_or("the spliced vector has no gradient")?;
    check_var_gradient(
        &slot_vec,
        grad,
        &[0, 5, 31, 40, 63],
        &loss,
        "spliced vector",
    )?;
    Ok(())
}

/// The gradients of the f32 model (the fused CPU kernels) against those of the same model in
/// f64 (candle's composed ops, checked above against finite differences).
#[test]
fn f32_kernel_gradients_match_the_f64_model() -> Result<()> {
    gradients_match_the_f64_model(DType::F32, 1e-4)
}

/// The GPU's mixed precision, run on the CPU: bf16 base weights and activations (candle's
/// composed ops, as on CUDA) under f32 LoRA weights and an f32 spliced vector. Its gradients
/// reach the f32 masters and stay within bf16's rounding of the f64 model's.
#[test]
fn bf16_base_gradients_match_the_f64_model() -> Result<()> {
    gradients_match_the_f64_model(DType::BF16, BF16_GRADIENT_TOLERANCE)
}

/// Relative to the largest |gradient| of each tensor. bf16 keeps 8 significant bits (a
/// relative step of 2^-8 = 0.4%) in the weights and in every activation; through the tiny
/// model's two layers and back that grows to 1-7% (measured on the CPU: every one of the 29
/// tensors between 1.2% and 7%). A dropped, mis-scaled or mis-cast gradient is off by O(1).
const BF16_GRADIENT_TOLERANCE: f64 = 0.15;

/// The model in `dtype` (LoRA and the spliced vector in f32 whatever `dtype`) against the same
/// weights in f64 on the CPU: the slot's and every LoRA tensor's gradient within `tolerance` of
/// the largest |f64 gradient| of that tensor (+1e-6). The `dtype` model runs on
/// `COLLM_TEST_DEVICE` (the CPU when unset), so `COLLM_TEST_DEVICE=cuda:0` checks CUDA's
/// kernels and their backward passes.
fn gradients_match_the_f64_model(dtype: DType, tolerance: f64) -> Result<()> {
    let device = test_device()?;
    let lora = all_targets();
    let (m32, tok) = Llm::tiny_random_with_dtype(SEED, Some(&lora), &device, dtype)?;
    let (m64, _) = Llm::tiny_random_with_dtype(SEED, Some(&lora), &Device::Cpu, DType::F64)?;
    randomise_b(&m64, 8)?;
    for ((_, v32), (_, v64)) in m32.lora_vars().iter().zip(m64.lora_vars().iter()) {
        v32.set(&v64.as_tensor().to_dtype(DType::F32)?.to_device(&device)?)?;
    }
    let hidden = m32.config().hidden_size;
    let slot = seeded_normal(hidden, 11)?.reshape((1, hidden))?;
    let rows = yes_no(&tok)?;
    let grads = |llm: &Llm, dtype: DType| -> Result<Vec<Tensor>> {
        let (ids, mask) = batch(&tok, &TEXTS, true, llm.device())?;
        let slots = [(2, ids.dim(1)? - 2)];
        let vec = Var::from_tensor(&slot.to_dtype(dtype)?.to_device(llm.device())?)?;
        let embeds = splice(&llm.embed_tokens(&ids)?, &slots, vec.as_tensor())?;
        let loss = scores(llm, &embeds, &mask, None, &rows)?.sum_all()?;
        let store = loss.backward()?;
        let mut out = vec![store
            .get(vec.as_tensor())
            .ok_or("no gradient for the slot")?
            .to_device(&Device::Cpu)?];
        for (name, var) in llm.lora_vars() {
            out.push(
                store
                    .get(var.as_tensor())
                    .ok_or_else(|| format!("no gradient for {name}"))?
                    .to_device(&Device::Cpu)?,
            );
        }
        Ok(out)
    };
    let (g32, g64) = (grads(&m32, DType::F32)?, grads(&m64, DType::F64)?);
    let mut worst = 0f64;
    for (i, (a, b)) in g32.iter().zip(&g64).enumerate() {
        assert_eq!(
            a.dtype(),
            DType::F32,
            "gradient {i} of an f32 master weight"
        );
        let scale = b.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?;
        let err = max_abs_diff(a, b)?;
        worst = worst.max(err / scale.max(1e-12));
        assert!(
            err <= tolerance * scale + 1e-6,
            "gradient {i}: max |{dtype:?} - f64| {err} at scale {scale}"
        );
    }
    eprintln!("{dtype:?}: worst relative gradient error {worst:.2e} (tolerance {tolerance})");
    Ok(())
}

#[test]
fn gradients_reach_every_trainable_var_and_no_frozen_weight() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(SEED, Some(&all_targets()), &device)?;
    randomise_b(&llm, 3)?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let embeds = llm.embed_tokens(&ids)?;
    let loss = scores(&llm, &embeds, &mask, None, &yes_no(&tok)?)?.sum_all()?;
    let grads = loss.backward()?;
    for (name, var) in llm.lora_vars() {
        let grad = grads
            .get(var.as_tensor())
            .ok_or_else(|| format!("{name} has no gradient"))?;
        let norm = grad.abs()?.sum_all()?.to_scalar::<f32>()?;
        assert!(norm > 0.0, "{name} has an all-zero gradient");
    }
    for (name, tensor) in llm.base_tensors() {
        assert!(!tensor.is_variable(), "{name} is trainable");
        assert!(
            grads.get(&tensor).is_none(),
            "frozen {name} received a gradient"
        );
    }
    Ok(())
}

#[test]
fn splicing_a_tokens_own_embedding_changes_nothing() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(SEED, Some(&LoraConfig::default()), &device)?;
    randomise_b(&llm, 4)?;
    let rows = yes_no(&tok)?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let embeds = llm.embed_tokens(&ids)?;
    let before = scores(&llm, &embeds, &mask, None, &rows)?;
    let len = ids.dim(1)?;
    let slots = [(0, len - 4), (1, len - 1), (2, len - 2)];
    let own: Vec<u32> = slots
        .iter()
        .map(|&(b, t)| ids.get(b)?.get(t)?.to_scalar::<u32>())
        .collect::<candle_core::Result<_>>()?;
    let own = llm
        .embed_tokens(&Tensor::new(own.as_slice(), &device)?.unsqueeze(0)?)?
        .squeeze(0)?;
    let after = scores(&llm, &splice(&embeds, &slots, &own)?, &mask, None, &rows)?;
    assert_eq!(max_abs_diff(&before, &after)?, 0.0);
    let other = seeded_normal(own.elem_count(), 22)?
        .to_dtype(DType::F32)?
        .reshape(own.dims())?
        .to_device(&device)?;
    let changed = scores(&llm, &splice(&embeds, &slots, &other)?, &mask, None, &rows)?;
    assert!(
        max_abs_diff(&before, &changed)? > 1e-3,
        "splicing a different vector must change the scores"
    );
    Ok(())
}

#[test]
fn prefix_cache_equals_the_full_forward_in_scores_and_gradients() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(SEED, Some(&LoraConfig::default()), &device)?;
    randomise_b(&llm, 5)?;
    let rows = yes_no(&tok)?;
    // Prefixes of different lengths, left-padded; suffixes right-padded, so pads sit both before
    // and in the middle of the concatenated rows.
    let (p_ids, p_mask) = batch(
        &tok,
        &[
            "<|im_start|>#Question: the user",
            "<|im_start|>",
            "<|im_start|># the movie with the feature",
        ],
        true,
        &device,
    )?;
    let (s_ids, s_mask) = batch(
        &tok,
        &[" would enjoy the movie #Answer:", " Yes", " with 7 No"],
        false,
        &device,
    )?;
    let p_embeds = llm.embed_tokens(&p_ids)?;
    let s_base = llm.embed_tokens(&s_ids)?;
    let hidden = llm.config().hidden_size;
    let vec = Var::from_tensor(
        &seeded_normal(3 * hidden, 23)?
            .to_dtype(DType::F32)?
            .reshape((3, hidden))?
            .to_device(&device)?,
    )?;
    let slots = [(0, 1), (1, 0), (2, 2)];
    let s_embeds = splice(&s_base, &slots, vec.as_tensor())?;

    let full_embeds = Tensor::cat(&[&p_embeds, &s_embeds], 1)?;
    let full_mask = Tensor::cat(&[&p_mask, &s_mask], 1)?;
    let full = scores(&llm, &full_embeds, &full_mask, None, &rows)?;
    let full_grad = full
        .sum_all()?
        .backward()?
        .get(vec.as_tensor())
        .ok_or("no gradient (full)")?
        .clone();

    let prefix = llm.prefix_kv(&p_embeds, &p_mask)?;
    assert_eq!(prefix.batch(), 3);
    assert_eq!(prefix.real_counts(), &tok_counts(&p_mask)?[..]);
    let cached = scores(&llm, &s_embeds, &s_mask, Some(&prefix), &rows)?;
    let cached_grad = cached
        .sum_all()?
        .backward()?
        .get(vec.as_tensor())
        .ok_or("no gradient (cached)")?
        .clone();

    assert!(
        max_abs_diff(&full, &cached)? < 1e-4,
        "scores {full} vs {cached}"
    );
    assert!(max_abs_diff(&full_grad, &cached_grad)? < 1e-4);

    // A prefix row can be shared across a batch.
    let shared = prefix.select_rows(&[1, 1, 1])?;
    let (one_ids, one_mask) = batch(&tok, &["<|im_start|> Yes"; 3], true, &device)?;
    let direct = scores(&llm, &llm.embed_tokens(&one_ids)?, &one_mask, None, &rows)?;
    let s_one = llm.embed_tokens(&Tensor::new(&[[tok.token_id(" Yes")?]; 3], &device)?)?;
    let via_shared = scores(
        &llm,
        &s_one,
        &Tensor::ones((3, 1), DType::U32, &device)?,
        Some(&shared),
        &rows,
    )?;
    assert!(max_abs_diff(&direct, &via_shared)? < 1e-4);
    Ok(())
}

fn tok_counts(mask: &Tensor) -> Result<Vec<u32>> {
    Ok(mask.sum(1)?.to_vec1::<u32>()?)
}

#[test]
fn a_rows_score_does_not_depend_on_padding() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(SEED, None, &device)?;
    let rows = yes_no(&tok)?;
    let short = TEXTS[1];
    let (ids, mask) = batch(&tok, &[short], true, &device)?;
    let alone = scores(&llm, &llm.embed_tokens(&ids)?, &mask, None, &rows)?;
    for left in [true, false] {
        let (ids, mask) = batch(&tok, &TEXTS, left, &device)?;
        let batched = scores(&llm, &llm.embed_tokens(&ids)?, &mask, None, &rows)?;
        let diff = max_abs_diff(&alone.get(0)?, &batched.get(1)?)?;
        assert!(
            diff < 1e-5,
            "padding on the {} changed the score by {diff}",
            if left { "left" } else { "right" }
        );
    }
    // Pads in the middle of a row.
    let real = tok.encode(short)?;
    let pad = tok.pad_id();
    let mut mid_ids = vec![real[0], pad, pad];
    mid_ids.extend_from_slice(&real[1..]);
    let mut mid_mask = vec![1u32, 0, 0];
    mid_mask.extend(std::iter::repeat_n(1u32, real.len() - 1));
    let n = mid_ids.len();
    let ids = Tensor::from_vec(mid_ids, (1, n), &device)?;
    let mask = Tensor::from_vec(mid_mask, (1, n), &device)?;
    let middle = scores(&llm, &llm.embed_tokens(&ids)?, &mask, None, &rows)?;
    assert!(max_abs_diff(&alone, &middle)? < 1e-5);
    Ok(())
}

#[test]
fn lora_dropout_applies_only_in_training_mode() -> Result<()> {
    let device = Device::Cpu;
    let lora = LoraConfig {
        dropout: 0.5,
        ..LoraConfig::default()
    };
    let (llm, tok) = Llm::tiny_random(SEED, Some(&lora), &device)?;
    randomise_b(&llm, 6)?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let embeds = llm.embed_tokens(&ids)?;
    let rows = yes_no(&tok)?;
    let eval_a = scores(&llm, &embeds, &mask, None, &rows)?;
    let eval_b = scores(&llm, &embeds, &mask, None, &rows)?;
    assert_eq!(max_abs_diff(&eval_a, &eval_b)?, 0.0);
    llm.set_lora_dropout(true);
    let train = scores(&llm, &embeds, &mask, None, &rows)?;
    llm.set_lora_dropout(false);
    assert!(
        max_abs_diff(&eval_a, &train)? > 1e-4,
        "dropout 0.5 must change the scores in training mode"
    );
    Ok(())
}

#[test]
fn cached_greedy_generation_equals_recomputation() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(SEED, None, &device)?;
    let prompt = tok.encode(TEXTS[0])?;
    let cached = llm.generate_greedy(&tok, &prompt, 12)?;
    let mut ids = prompt.clone();
    let mut naive = Vec::new();
    for _ in 0..12 {
        let t = Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?;
        let mask = Tensor::ones(t.dims(), DType::U32, &device)?;
        let logits = llm
            .full_logits_last(&llm.embed_tokens(&t)?, &mask, None)?
            .squeeze(0)?;
        let next = logits.argmax(0)?.to_scalar::<u32>()?;
        naive.push(next);
        ids.push(next);
        if Some(next) == tok.eos_id() {
            break;
        }
    }
    assert_eq!(cached, naive);
    Ok(())
}

#[test]
fn sliding_window_limits_attention() -> Result<()> {
    let device = Device::Cpu;
    let mut config = collm_llm::tiny_config();
    config.architecture = collm_llm::Architecture::Mistral;
    let tok = collm_llm::tiny_tokenizer()?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let rows = yes_no(&tok)?;
    let run = |window: Option<usize>| -> Result<Tensor> {
        let mut c = config.clone();
        c.sliding_window = window;
        let llm = Llm::random(&c, SEED, None, &device, DType::F32)?;
        scores(&llm, &llm.embed_tokens(&ids)?, &mask, None, &rows)
    };
    let none = run(None)?;
    assert_eq!(max_abs_diff(&none, &run(Some(ids.dim(1)?))?)?, 0.0);
    assert!(max_abs_diff(&none, &run(Some(3))?)? > 1e-4);
    Ok(())
}

#[test]
fn bad_inputs_are_errors_not_panics() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(SEED, None, &device)?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let embeds = llm.embed_tokens(&ids)?;
    let zeros = mask.zeros_like()?;
    let err = llm
        .last_hidden(&embeds, &zeros, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 0 has no real token"), "{err}");
    let err = llm
        .last_hidden(&embeds, &mask.narrow(1, 1, 3)?, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mask has shape"), "{err}");
    let err = llm
        .score_rows(&llm.last_hidden(&embeds, &mask, None)?, &[1_000_000])
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
    let err = llm
        .embed_tokens(&Tensor::new(&[[1_000_000u32]], &device)?)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
    Ok(())
}

/// The same step twice gives the same gradients to the bit: the fused kernels split work
/// across threads, but never let the order of a floating-point sum depend on scheduling.
#[test]
fn gradients_are_bitwise_reproducible() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random_with_dtype(SEED, Some(&all_targets()), &device, DType::F32)?;
    randomise_b(&llm, 9)?;
    let (ids, mask) = batch(&tok, &TEXTS, true, &device)?;
    let rows = yes_no(&tok)?;
    let grads = || -> Result<Vec<Vec<u32>>> {
        let loss = scores(&llm, &llm.embed_tokens(&ids)?, &mask, None, &rows)?.sum_all()?;
        let store = loss.backward()?;
        let mut out = Vec::new();
        for (name, var) in llm.lora_vars() {
            let g = store
                .get(var.as_tensor())
                .ok_or_else(|| format!("no gradient for {name}"))?;
            out.push(
                g.flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .map(|v| v.to_bits())
                    .collect(),
            );
        }
        Ok(out)
    };
    let first = grads()?;
    for run in 0..20 {
        let again = grads()?;
        for (i, (a, b)) in first.iter().zip(&again).enumerate() {
            assert!(a == b, "run {run}: gradient {i} differs");
        }
    }
    Ok(())
}
