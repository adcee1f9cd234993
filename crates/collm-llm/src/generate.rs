//! Greedy decoding of one prompt with a growing key/value cache.

use candle_core::{DType, Tensor};

use crate::model::{argmax, Llm};
use crate::tokenizer::LlmTokenizer;
use crate::{LlmError, Result};

impl Llm {
    /// Up to `max_new` tokens chosen greedily after `prompt_ids`; stops after emitting the
    /// tokenizer's EOS (which is included). The prompt runs once; each new token reuses the cache.
    pub fn generate_greedy(
        &self,
        tok: &LlmTokenizer,
        prompt_ids: &[u32],
        max_new: usize,
    ) -> Result<Vec<u32>> {
        if prompt_ids.is_empty() {
            return Err(LlmError::Input(
                "generation needs a non-empty prompt".into(),
            ));
        }
        let mut out = Vec::with_capacity(max_new);
        if max_new == 0 {
            return Ok(out);
        }
        let run = |ids: &[u32], cache: Option<&crate::KvPrefix>| {
            let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
            let mask = Tensor::ones(ids.dims(), DType::U8, &self.device)?;
            self.step(&self.embed_tokens(&ids)?, &mask, cache)
        };
        let (mut logits, mut cache) = run(prompt_ids, None)?;
        loop {
            let next = argmax(&logits.get(0)?)?;
            out.push(next);
            if out.len() == max_new || Some(next) == tok.eos_id() {
                return Ok(out);
            }
            (logits, cache) = run(&[next], Some(&cache))?;
        }
    }
}
