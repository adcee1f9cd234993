//! Loading round trips (a tiny model written as a Hugging Face folder, sharded or not, and as a
//! GGUF file with llama.cpp's q/k permutation), the errors for broken inputs, and LoRA files.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use collm_llm::{
    gguf, tiny_config, tiny_tokenizer, tiny_vocab, Architecture, Llm, LlmConfig, LlmTokenizer,
    LoraConfig,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const PROMPT: &str = "<|im_start|>#Question: would the user enjoy the movie 2001? #Answer:";

fn logits(llm: &Llm, tok: &LlmTokenizer) -> Result<Tensor> {
    let ids = Tensor::new(tok.encode(PROMPT)?.as_slice(), llm.device())?.unsqueeze(0)?;
    let mask = Tensor::ones(ids.dims(), DType::U32, llm.device())?;
    Ok(llm.full_logits_last(&llm.embed_tokens(&ids)?, &mask, None)?)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
}

/// Writes `llm` as a Hugging Face folder: config.json, tokenizer.json and safetensors weights,
/// split over `shards` files with an index when more than one.
fn write_hf(llm: &Llm, tok: &LlmTokenizer, dir: &Path, shards: usize) -> Result<()> {
    let mut config = llm.config().to_hf_json();
    config["bos_token_id"] = 1.into();
    config["eos_token_id"] = 2.into();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    tok.save(&dir.join("tokenizer.json"))?;
    let tensors = llm.base_tensors();
    if shards == 1 {
        let map: HashMap<String, Tensor> = tensors.into_iter().collect();
        candle_core::safetensors::save(&map, dir.join("model.safetensors"))?;
        return Ok(());
    }
    let mut weight_map = serde_json::Map::new();
    let per_shard = tensors.len().div_ceil(shards);
    for (s, chunk) in tensors.chunks(per_shard).enumerate() {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", s + 1);
        let map: HashMap<String, Tensor> = chunk.iter().cloned().collect();
        candle_core::safetensors::save(&map, dir.join(&file))?;
        for (name, _) in chunk {
            weight_map.insert(name.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string())?;
    Ok(())
}

/// A Qwen2-shaped variant of the tiny config: q/k/v biases and an untied head.
fn qwen2_config() -> LlmConfig {
    LlmConfig {
        architecture: Architecture::Qwen2,
        attention_bias: true,
        tie_word_embeddings: false,
        ..tiny_config()
    }
}

#[test]
fn hugging_face_folder_round_trip() -> Result<()> {
    let device = Device::Cpu;
    let tok = tiny_tokenizer()?;
    for (config, shards) in [(tiny_config(), 1), (qwen2_config(), 3)] {
        let original = Llm::random(&config, 11, None, &device, DType::F32)?;
        let dir = tempfile::tempdir()?;
        write_hf(&original, &tok, dir.path(), shards)?;
        let (loaded, loaded_tok) = Llm::load(dir.path(), None, &device)?;
        assert_eq!(loaded.config(), original.config());
        assert_eq!(loaded_tok.encode(PROMPT)?, tok.encode(PROMPT)?);
        assert_eq!(loaded_tok.bos_id(), Some(1));
        assert_eq!(loaded_tok.eos_id(), Some(2));
        assert_eq!(
            max_abs_diff(&logits(&original, &tok)?, &logits(&loaded, &loaded_tok)?)?,
            0.0
        );
    }
    Ok(())
}

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

/// Writes `llm` as a llama.cpp-style GGUF: llama metadata, the vocabulary, and f32 tensors under
/// GGUF names with q/k rows permuted for interleaved RoPE.
fn write_gguf(llm: &Llm, path: &Path, architecture: &str) -> Result<()> {
    let c = llm.config();
    let vocab = tiny_vocab();
    let arch = |k: &str| format!("{architecture}.{k}");
    let merges: Vec<String> = vocab
        .merges
        .iter()
        .map(|(a, b)| format!("{a} {b}"))
        .collect();
    let meta: Vec<(String, Value)> = vec![
        (
            "general.architecture".into(),
            Value::String(architecture.into()),
        ),
        (arch("block_count"), Value::U32(c.num_layers as u32)),
        (arch("embedding_length"), Value::U32(c.hidden_size as u32)),
        (
            arch("feed_forward_length"),
            Value::U32(c.intermediate_size as u32),
        ),
        (arch("attention.head_count"), Value::U32(c.num_heads as u32)),
        (
            arch("attention.head_count_kv"),
            Value::U32(c.num_kv_heads as u32),
        ),
        (
            arch("attention.layer_norm_rms_epsilon"),
            Value::F32(c.rms_norm_eps as f32),
        ),
        (arch("rope.freq_base"), Value::F32(c.rope_theta as f32)),
        (
            arch("context_length"),
            Value::U32(c.max_position_embeddings as u32),
        ),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), string_array(&vocab.tokens)),
        ("tokenizer.ggml.merges".into(), string_array(&merges)),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(vocab.token_types.iter().map(|&t| Value::I32(t)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
    ];
    let mut tensors = Vec::new();
    for (name, t) in llm.base_tensors() {
        let t = if name.ends_with("q_proj.weight") {
            gguf::permute_rows(&t, c.num_heads)?
        } else if name.ends_with("k_proj.weight") {
            gguf::permute_rows(&t, c.num_kv_heads)?
        } else {
            t
        };
        let gguf_name = gguf::gguf_name(&name).ok_or_else(|| format!("no GGUF name for {name}"))?;
        tensors.push((gguf_name, QTensor::quantize(&t, GgmlDType::F32)?));
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path)?;
    gguf_file::write(&mut file, &meta_refs, &tensor_refs)?;
    Ok(())
}

#[test]
fn gguf_round_trip_undoes_the_qk_permutation() -> Result<()> {
    let device = Device::Cpu;
    let (original, tok) = Llm::tiny_random(12, None, &device)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tiny.gguf");
    write_gguf(&original, &path, "llama")?;
    let (loaded, loaded_tok) = Llm::load(&path, None, &device)?;
    // GGUF stores the epsilon as f32.
    let eps = original.config().rms_norm_eps as f32 as f64;
    assert_eq!(
        loaded.config(),
        &LlmConfig {
            rms_norm_eps: eps,
            ..original.config().clone()
        }
    );
    assert_eq!(loaded_tok.encode(PROMPT)?, tok.encode(PROMPT)?);
    assert_eq!(loaded_tok.token_id(" Yes")?, tok.token_id(" Yes")?);
    assert_eq!(loaded_tok.encode("<|im_end|>")?, vec![2]);
    assert!(max_abs_diff(&logits(&original, &tok)?, &logits(&loaded, &loaded_tok)?)? < 1e-5);
    // `inspect` reads what a load reads first, and refuses a copy cut short within its tensors
    // (whose header reads fine): a run checks its backbone so before it trains anything.
    assert_eq!(Llm::inspect(&path)?, *loaded.config());
    let bytes = std::fs::read(&path)?;
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 64])?;
    let err = Llm::inspect(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.gguf") && err.contains("cut short"),
        "{err}"
    );
    // Cut within the header, up to the tensor data's first byte: said so, not "failed to fill
    // whole buffer" (or candle's own count of what the header needs).
    let data_at = gguf_file::Content::read(&mut std::fs::File::open(&path)?)?.tensor_data_offset;
    for at in [8, 700, data_at as usize - 1] {
        std::fs::write(&cut, &bytes[..at])?;
        let err = Llm::inspect(&cut).unwrap_err().to_string();
        assert!(
            err.contains("cut short") || err.contains("needs at least"),
            "{at}: {err}"
        );
    }
    std::fs::write(&cut, b"garbage")?;
    assert!(Llm::inspect(&cut).is_err());
    Ok(())
}

fn error_of(result: collm_llm::Result<(Llm, LlmTokenizer)>) -> String {
    match result {
        Ok(_) => panic!("loading succeeded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loading_errors_name_the_file_tensor_or_architecture() -> Result<()> {
    let device = Device::Cpu;
    let (llm, tok) = Llm::tiny_random(13, None, &device)?;
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nothing-here.gguf");
    let err = error_of(Llm::load(&missing, None, &device));
    assert!(
        err.contains("nothing-here.gguf") && err.contains("not found"),
        "{err}"
    );

    let folder = dir.path().join("hf");
    std::fs::create_dir(&folder)?;
    write_hf(&llm, &tok, &folder, 1)?;
    std::fs::remove_file(folder.join("tokenizer.json"))?;
    let err = error_of(Llm::load(&folder, None, &device));
    assert!(
        err.contains("tokenizer.json") && err.contains("not found"),
        "{err}"
    );
    tok.save(&folder.join("tokenizer.json"))?;

    let config_path = folder.join("config.json");
    let good_config = std::fs::read_to_string(&config_path)?;
    std::fs::write(
        &config_path,
        good_config.replace("\"llama\"", "\"gpt_neox\""),
    )?;
    let err = error_of(Llm::load(&folder, None, &device));
    assert!(
        err.contains("unsupported architecture `gpt_neox`") && err.contains("config.json"),
        "{err}"
    );
    std::fs::write(
        &config_path,
        good_config.replace("\"hidden_size\": 32", "\"hidden_size\": \"wide\""),
    )?;
    let err = error_of(Llm::load(&folder, None, &device));
    assert!(
        err.contains("config.json") && err.contains("field `hidden_size`") && err.contains("wide"),
        "{err}"
    );
    std::fs::write(&config_path, &good_config)?;

    let mut tensors: HashMap<String, Tensor> = llm.base_tensors().into_iter().collect();
    let name = "model.layers.1.self_attn.q_proj.weight";
    tensors.insert(name.into(), Tensor::zeros((8, 32), DType::F32, &device)?);
    candle_core::safetensors::save(&tensors, folder.join("model.safetensors"))?;
    let err = error_of(Llm::load(&folder, None, &device));
    assert!(
        err.contains(name) && err.contains("[8, 32]") && err.contains("[32, 32]"),
        "{err}"
    );

    let name = "model.layers.0.mlp.down_proj.weight";
    tensors.remove(name);
    tensors.remove("model.layers.1.self_attn.q_proj.weight");
    candle_core::safetensors::save(&tensors, folder.join("model.safetensors"))?;
    let err = error_of(Llm::load(&folder, None, &device));
    assert!(err.contains(name) && err.contains("missing"), "{err}");

    let path = dir.path().join("other.gguf");
    write_gguf(&llm, &path, "gpt2")?;
    let err = error_of(Llm::load(&path, None, &device));
    assert!(
        err.contains("unsupported architecture `gpt2`") && err.contains("other.gguf"),
        "{err}"
    );
    Ok(())
}

#[test]
fn lora_config_rejects_unknown_keys_and_targets() {
    let err = serde_json::from_str::<LoraConfig>(r#"{"r": 4, "alpah": 8}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("alpah"), "{err}");
    let err = serde_json::from_str::<LoraConfig>(r#"{"targets": ["q_proj", "x_proj"]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("x_proj"), "{err}");
    let parsed: LoraConfig = serde_json::from_str(r#"{"r": 4}"#).unwrap();
    assert_eq!(
        parsed,
        LoraConfig {
            r: 4,
            ..LoraConfig::default()
        }
    );
    let default = LoraConfig::default();
    assert_eq!((default.r, default.alpha, default.dropout), (8, 16.0, 0.05));
    let bad = LoraConfig {
        dropout: 1.5,
        ..LoraConfig::default()
    };
    let err = Llm::tiny_random(1, Some(&bad), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dropout"), "{err}");
}

fn randomise_b(llm: &Llm) -> Result<()> {
    for (name, var) in llm.lora_vars() {
        if name.ends_with("lora_B.weight") {
            var.set(&Tensor::randn(0f32, 0.5, var.dims(), var.device())?)?;
        }
    }
    Ok(())
}

#[test]
fn lora_weights_save_and_load() -> Result<()> {
    let device = Device::Cpu;
    let lora = LoraConfig::default();
    let (trained, tok) = Llm::tiny_random(14, Some(&lora), &device)?;
    randomise_b(&trained)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("lora.safetensors");
    trained.save_lora(&path)?;

    let (fresh, _) = Llm::tiny_random(14, Some(&lora), &device)?;
    fresh.init_lora(99)?;
    assert!(max_abs_diff(&logits(&trained, &tok)?, &logits(&fresh, &tok)?)? > 1e-3);
    fresh.load_lora(&path)?;
    assert_eq!(
        max_abs_diff(&logits(&trained, &tok)?, &logits(&fresh, &tok)?)?,
        0.0
    );

    let other = LoraConfig {
        r: 4,
        ..lora.clone()
    };
    let (mismatched, _) = Llm::tiny_random(14, Some(&other), &device)?;
    let err = mismatched.load_lora(&path).unwrap_err().to_string();
    assert!(
        err.contains("lora.safetensors") && err.contains("r: 4"),
        "{err}"
    );
    let (plain, _) = Llm::tiny_random(14, None, &device)?;
    assert!(plain
        .load_lora(&path)
        .unwrap_err()
        .to_string()
        .contains("without LoRA"));
    Ok(())
}

#[test]
fn peft_adapter_export_has_the_hugging_face_layout() -> Result<()> {
    let device = Device::Cpu;
    let (llm, _) = Llm::tiny_random(15, Some(&LoraConfig::default()), &device)?;
    randomise_b(&llm)?;
    let dir = tempfile::tempdir()?;
    llm.save_peft_adapter(dir.path())?;
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dir.path().join("adapter_config.json"),
    )?)?;
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 8);
    assert_eq!(config["lora_alpha"], 16.0);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["q_proj", "v_proj"])
    );
    let tensors =
        candle_core::safetensors::load(dir.path().join("adapter_model.safetensors"), &device)?;
    let c = llm.config();
    assert_eq!(tensors.len(), 4 * c.num_layers);
    let a = &tensors["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"];
    let b = &tensors["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"];
    assert_eq!(a.dims(), &[8, c.hidden_size]);
    assert_eq!(b.dims(), &[c.num_heads * c.head_dim, 8]);
    let v_b = &tensors["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"];
    assert_eq!(v_b.dims(), &[c.num_kv_heads * c.head_dim, 8]);
    // The exported values are the model's own (no permutation: the model is held in HF layout).
    let (_, var) = llm
        .lora_vars()
        .into_iter()
        .find(|(n, _)| n.ends_with("layers.1.self_attn.q_proj.lora_B.weight"))
        .unwrap();
    assert_eq!(max_abs_diff(b, var.as_tensor())?, 0.0);
    Ok(())
}
