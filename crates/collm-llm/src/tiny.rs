//! A tiny random Llama (2 layers, width 32, grouped-query attention) with a small byte-level
//! BPE tokenizer, both defined in code, so tests run in milliseconds without a download.

use candle_core::{DType, Device};

use crate::config::{Architecture, LlmConfig, LoraConfig};
use crate::load::default_dtype;
use crate::model::Llm;
use crate::tokenizer::{byte_level_chars, LlmTokenizer, PreTokenizer, SpecialIds};
use crate::Result;

/// Special tokens of the tiny vocabulary, at ids 0.., SmolLM2's first three among them.
const SPECIAL: [&str; 4] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"];

/// Words that get whole-word tokens, so " Yes" and " No" are single tokens as in real models.
const WORDS: [&str; 12] = [
    " Yes",
    "Yes",
    " No",
    "#Question",
    "#Answer",
    " user",
    " movie",
    " the",
    " enjoy",
    " with",
    " feature",
    " Answer",
];

/// The tiny tokenizer's raw parts, in the form a GGUF file stores them.
#[derive(Debug, Clone)]
pub struct TinyVocab {
    /// Byte-level token texts; the id is the index.
    pub tokens: Vec<String>,
    /// Merges in rank order.
    pub merges: Vec<(String, String)>,
    /// GGUF token types: 3 (control) for the special tokens, 1 (normal) otherwise.
    pub token_types: Vec<i32>,
    pub special: SpecialIds,
}

/// Specials, then the 256 byte tokens, then each word's merges from left to right.
pub fn tiny_vocab() -> TinyVocab {
    let mut tokens: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    let mut token_types = vec![3; SPECIAL.len()];
    let chars = byte_level_chars();
    tokens.extend(chars.iter().map(|c| c.to_string()));
    token_types.extend(std::iter::repeat_n(1, chars.len()));
    let mut merges = Vec::new();
    for word in WORDS {
        let pieces: Vec<String> = word
            .bytes()
            .map(|b| chars[b as usize].to_string())
            .collect();
        let mut current = pieces[0].clone();
        for piece in &pieces[1..] {
            let merged = format!("{current}{piece}");
            if !tokens.contains(&merged) {
                merges.push((current.clone(), piece.clone()));
                tokens.push(merged.clone());
                token_types.push(1);
            }
            current = merged;
        }
    }
    let special = SpecialIds {
        bos: Some(1),
        eos: Some(2),
        pad: Some(2),
        unk: Some(3),
    };
    TinyVocab {
        tokens,
        merges,
        token_types,
        special,
    }
}

/// The tiny tokenizer: SmolLM2's pre-tokenisation over [`tiny_vocab`].
pub fn tiny_tokenizer() -> Result<LlmTokenizer> {
    let vocab = tiny_vocab();
    let special: Vec<u32> = (0..SPECIAL.len() as u32).collect();
    LlmTokenizer::byte_level_bpe(
        &vocab.tokens,
        vocab.merges,
        PreTokenizer::SmolLm,
        &special,
        &[],
        vocab.special,
    )
}

/// 2 layers, width 32, 4 query heads over 2 key/value heads of width 8, tied head.
pub fn tiny_config() -> LlmConfig {
    LlmConfig {
        architecture: Architecture::Llama,
        vocab_size: tiny_vocab().tokens.len(),
        hidden_size: 32,
        intermediate_size: 64,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: true,
        attention_bias: false,
        // Room for a full CoLLM prompt, which the byte-level tiny vocabulary spells out in
        // ~700 tokens.
        max_position_embeddings: 2048,
        sliding_window: None,
    }
}

impl Llm {
    /// The tiny random model with seeded weights, in the device's default dtype.
    pub fn tiny_random(
        seed: u64,
        lora: Option<&LoraConfig>,
        device: &Device,
    ) -> Result<(Llm, LlmTokenizer)> {
        Self::tiny_random_with_dtype(seed, lora, device, default_dtype(device))
    }

    /// [`Llm::tiny_random`] in `dtype` (f64 for finite-difference checks).
    pub fn tiny_random_with_dtype(
        seed: u64,
        lora: Option<&LoraConfig>,
        device: &Device,
        dtype: DType,
    ) -> Result<(Llm, LlmTokenizer)> {
        let llm = Llm::random(&tiny_config(), seed, lora, device, dtype)?;
        Ok((llm, tiny_tokenizer()?))
    }
}
