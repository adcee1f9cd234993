//! SmolLM2-135M-Instruct against reference logits made by an independent implementation (a
//! numpy float64 forward of the same GGUF, `scripts/reference/make_logit_fixture.py`): token
//! ids, last-position logits, batched scoring with padding, and greedy generation.
//!
//! The model is pulled into the default models folder ($COLLM_HOME/models, else ~/.collm/models)
//! on first use, as every collm command does.
//!
//! The checks run in f32 and again in bf16 (the GPU's precision; on the CPU it takes the same
//! composed candle ops as CUDA does), each with its own tolerance. `COLLM_TEST_DEVICE=cuda:0`
//! runs them all on a GPU (a build with the `cuda` feature; see `benches/gpu/`).

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use collm_llm::{hub, DeviceSpec, Llm, LlmTokenizer};
use serde::Deserialize;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The largest |difference| allowed between our f32 logits and the f64 reference. Measured
/// differences are reported in the test output; f32 accumulation over 30 layers stays well
/// below this.
const TOLERANCE: f64 = 1e-3;

/// The same in bf16: its 8 significant bits round every weight and every layer's output by up
/// to 2^-9 of its size, and 30 layers of that move logits of magnitude ~20 by tenths
/// (measured on the CPU: 0.18 at most).
const BF16_TOLERANCE: f64 = 0.5;

#[derive(Deserialize)]
struct Fixture {
    gguf_sha256: String,
    rows: std::collections::BTreeMap<String, u32>,
    prompts: Vec<Prompt>,
    greedy: Greedy,
}

#[derive(Deserialize)]
struct Prompt {
    text: String,
    ids: Vec<u32>,
    top_ids: Vec<u32>,
    top_logits: Vec<f64>,
    rows: std::collections::BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct Greedy {
    text: String,
    ids: Vec<u32>,
    max_new: usize,
    generated: Vec<u32>,
}

/// Compiled in, so the test binary also runs where the checkout is not (a GPU machine).
fn fixture() -> Result<Fixture> {
    Ok(serde_json::from_str(include_str!(
        "fixtures/smollm2_reference.json"
    ))?)
}

/// The models folder every collm command uses (mirrors `collm_bench::paths::models_dir`).
fn models_dir() -> PathBuf {
    let home = match std::env::var_os("COLLM_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".collm"),
    };
    home.join("models")
}

/// `COLLM_TEST_DEVICE` (`cpu` when unset).
fn device() -> Device {
    DeviceSpec::from_env("COLLM_TEST_DEVICE")
        .and_then(DeviceSpec::resolve)
        .expect("opening COLLM_TEST_DEVICE")
}

/// The model and tokenizer in `dtype`, loaded once per dtype for all tests of this file.
fn model_in(dtype: DType) -> &'static (Llm, LlmTokenizer, PathBuf) {
    static F32: OnceLock<(Llm, LlmTokenizer, PathBuf)> = OnceLock::new();
    static BF16: OnceLock<(Llm, LlmTokenizer, PathBuf)> = OnceLock::new();
    let cell = if dtype == DType::BF16 { &BF16 } else { &F32 };
    cell.get_or_init(|| {
        let path = hub::ensure_default(&models_dir(), &mut |msg| eprintln!("{msg}"))
            .expect("pulling SmolLM2");
        let (llm, tok) =
            Llm::load_with_dtype(&path, None, &device(), dtype).expect("loading SmolLM2");
        (llm, tok, path)
    })
}

fn model() -> &'static (Llm, LlmTokenizer, PathBuf) {
    model_in(DType::F32)
}

#[test]
fn the_pulled_file_is_the_one_the_fixture_was_made_from() -> Result<()> {
    let (llm, _, path) = model();
    assert_eq!(hub::sha256_file(path)?, fixture()?.gguf_sha256);
    // The quantised tensors' sizes as `inspect` counts them fit the file exactly as it is.
    assert_eq!(Llm::inspect(path)?, *llm.config());
    Ok(())
}

#[test]
fn tokenizer_matches_the_reference_ids() -> Result<()> {
    let (_, tok, _) = model();
    let fixture = fixture()?;
    for (text, id) in &fixture.rows {
        assert_eq!(tok.token_id(text)?, *id, "{text:?}");
    }
    for prompt in &fixture.prompts {
        assert_eq!(tok.encode(&prompt.text)?, prompt.ids, "{:?}", prompt.text);
        assert_eq!(tok.decode(&prompt.ids)?, prompt.text);
    }
    assert_eq!(tok.encode(&fixture.greedy.text)?, fixture.greedy.ids);
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.pad_id()),
        (Some(1), Some(2), 2)
    );
    Ok(())
}

#[test]
fn last_position_logits_match_the_reference() -> Result<()> {
    logits_match_the_reference(DType::F32, TOLERANCE)
}

#[test]
fn last_position_logits_match_the_reference_in_bf16() -> Result<()> {
    logits_match_the_reference(DType::BF16, BF16_TOLERANCE)
}

/// Every reference top-10 logit and named row within `tolerance`, the same top token, and no
/// other token above the reference's tenth by more than the tolerance allows.
fn logits_match_the_reference(dtype: DType, tolerance: f64) -> Result<()> {
    let (llm, _, _) = model_in(dtype);
    let fixture = fixture()?;
    let mut worst = 0f64;
    for prompt in &fixture.prompts {
        let ids = Tensor::new(prompt.ids.as_slice(), llm.device())?.unsqueeze(0)?;
        let mask = Tensor::ones(ids.dims(), DType::U32, llm.device())?;
        let logits = llm
            .full_logits_last(&llm.embed_tokens(&ids)?, &mask, None)?
            .squeeze(0)?
            .to_vec1::<f32>()?;
        for (&id, &want) in prompt.top_ids.iter().zip(&prompt.top_logits) {
            worst = worst.max((logits[id as usize] as f64 - want).abs());
        }
        for (name, &want) in &prompt.rows {
            worst = worst.max((logits[fixture.rows[name] as usize] as f64 - want).abs());
        }
        // The same top token unless the reference's top two are within the tolerance; the
        // rest of the reference top-10 ranks above everything else unless a reference gap is
        // within the tolerance.
        let argmax = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap_or(0);
        if prompt.top_logits[0] - prompt.top_logits[1] > 2.0 * tolerance {
            assert_eq!(argmax as u32, prompt.top_ids[0], "{:?}", prompt.text);
        }
        let tenth = prompt.top_logits[prompt.top_logits.len() - 1];
        for (id, &logit) in logits.iter().enumerate() {
            if !prompt.top_ids.contains(&(id as u32)) {
                assert!(
                    (logit as f64) < tenth + 2.0 * tolerance,
                    "token {id} ({logit}) would enter the top 10 of {:?}",
                    prompt.text
                );
            }
        }
    }
    eprintln!("{dtype:?}: max |logit - reference| = {worst:.2e} (tolerance {tolerance:.0e})");
    assert!(worst < tolerance, "max |diff| {worst}");
    Ok(())
}

#[test]
fn batched_scores_with_left_padding_match_the_reference() -> Result<()> {
    batched_scores_match_the_reference(DType::F32, TOLERANCE)
}

#[test]
fn batched_scores_with_left_padding_match_the_reference_in_bf16() -> Result<()> {
    batched_scores_match_the_reference(DType::BF16, BF16_TOLERANCE)
}

/// All prompts in one left-padded batch: the named rows' logits within `tolerance`.
fn batched_scores_match_the_reference(dtype: DType, tolerance: f64) -> Result<()> {
    let (llm, tok, _) = model_in(dtype);
    let fixture = fixture()?;
    let len = fixture
        .prompts
        .iter()
        .map(|p| p.ids.len())
        .max()
        .unwrap_or(0);
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for p in &fixture.prompts {
        let pad = len - p.ids.len();
        ids.extend(std::iter::repeat_n(tok.pad_id(), pad).chain(p.ids.iter().copied()));
        mask.extend(std::iter::repeat_n(0u32, pad).chain(std::iter::repeat_n(1, p.ids.len())));
    }
    let shape = (fixture.prompts.len(), len);
    let ids = Tensor::from_vec(ids, shape, llm.device())?;
    let mask = Tensor::from_vec(mask, shape, llm.device())?;
    let names: Vec<&String> = fixture.rows.keys().collect();
    let rows: Vec<u32> = names.iter().map(|n| fixture.rows[*n]).collect();
    let hidden = llm.last_hidden(&llm.embed_tokens(&ids)?, &mask, None)?;
    let scores = llm.score_rows(&hidden, &rows)?.to_vec2::<f32>()?;
    for (p, got) in fixture.prompts.iter().zip(&scores) {
        for (name, &value) in names.iter().zip(got) {
            let diff = (value as f64 - p.rows[*name]).abs();
            assert!(
                diff < tolerance,
                "{name:?} of {:?}: {value} vs {}",
                p.text,
                p.rows[*name]
            );
        }
    }
    Ok(())
}

#[test]
fn greedy_generation_reproduces_the_reference_tokens() -> Result<()> {
    let (llm, tok, _) = model();
    let greedy = fixture()?.greedy;
    let generated = llm.generate_greedy(tok, &greedy.ids, greedy.max_new)?;
    eprintln!("generated: {:?}", tok.decode(&generated)?);
    assert_eq!(generated, greedy.generated);
    Ok(())
}
