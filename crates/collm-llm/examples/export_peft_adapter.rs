//! Writes a peft adapter with non-zero random weights for a model, plus the model's last-position
//! logits with that adapter, so `scripts/reference/check_peft_adapter.py` can check that Python's
//! peft over the Hugging Face model gives the same logits.
//!
//!     cargo run -p collm-llm --example export_peft_adapter -- MODEL.gguf OUT_DIR

use candle_core::{DType, Device, Tensor};
use collm_llm::{Llm, LoraConfig, LoraTarget};

const PROMPT: &str =
    "<|im_start|>#Question: would the user enjoy the movie \"Heat (1995)\"? #Answer:";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, out] = args.as_slice() else {
        anyhow::bail!("usage: export_peft_adapter MODEL OUT_DIR");
    };
    let device = Device::Cpu;
    let lora = LoraConfig {
        targets: vec![LoraTarget::QProj, LoraTarget::KProj, LoraTarget::VProj],
        ..LoraConfig::default()
    };
    let (llm, tok) = Llm::load(model.as_ref(), Some(&lora), &device)?;
    for (name, var) in llm.lora_vars() {
        if name.ends_with("lora_B.weight") {
            var.set(&Tensor::randn(0f32, 0.02, var.dims(), &device)?)?;
        }
    }
    let out = std::path::Path::new(out);
    llm.save_peft_adapter(out)?;
    let ids = tok.encode(PROMPT)?;
    let input = Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?;
    let mask = Tensor::ones(input.dims(), DType::U32, &device)?;
    let logits = llm
        .full_logits_last(&llm.embed_tokens(&input)?, &mask, None)?
        .squeeze(0)?
        .to_vec1::<f32>()?;
    let (plain, _) = Llm::load(model.as_ref(), None, &device)?;
    let base = plain
        .full_logits_last(&plain.embed_tokens(&input)?, &mask, None)?
        .squeeze(0)?
        .to_vec1::<f32>()?;
    let json = serde_json::json!({ "ids": ids, "logits": logits, "base_logits": base });
    std::fs::write(out.join("collm_logits.json"), json.to_string())?;
    println!("wrote {}", out.display());
    Ok(())
}
