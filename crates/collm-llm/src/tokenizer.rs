//! Text to token ids and back, with special tokens such as `<|im_start|>` matched inside the text,
//! built from a `tokenizer.json` or from a GGUF file's vocabulary and merges.

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::{LlmError, Result};

/// Ids of the special tokens a caller may need; `None` when the model has no such token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub pad: Option<u32>,
    pub unk: Option<u32>,
}

/// The pre-tokenisation a byte-level BPE vocabulary was trained with (GGUF `tokenizer.ggml.pre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2: the ByteLevel regex alone (`gpt2`, `default`).
    Gpt2,
    /// SmolLM: every digit on its own, then GPT-2's ByteLevel (`smollm`).
    SmolLm,
    /// Qwen2's regex split (single digits), then ByteLevel without its own regex (`qwen2`).
    Qwen2,
    /// Llama 3's regex split (digits in groups of up to three), then ByteLevel (`llama-bpe`).
    Llama3,
}

const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl PreTokenizer {
    /// Maps GGUF's `tokenizer.ggml.pre` name; `None` for one this crate does not know.
    pub fn from_gguf_name(name: &str) -> Option<Self> {
        match name {
            "gpt2" | "default" => Some(PreTokenizer::Gpt2),
            "smollm" => Some(PreTokenizer::SmolLm),
            "qwen2" => Some(PreTokenizer::Qwen2),
            "llama-bpe" | "llama3" => Some(PreTokenizer::Llama3),
            _ => None,
        }
    }

    fn build(self) -> Result<PreTokenizerWrapper> {
        let byte_level = |use_regex: bool| ByteLevel::new(false, true, use_regex).into();
        let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
            let split = Split::new(
                SplitPattern::Regex(pattern.to_owned()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| LlmError::Tokenizer(format!("bad split pattern: {e}")))?;
            Ok(split.into())
        };
        Ok(match self {
            PreTokenizer::Gpt2 => byte_level(true),
            PreTokenizer::SmolLm => {
                Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into()
            }
            PreTokenizer::Qwen2 => {
                Sequence::new(vec![split(QWEN2_PATTERN)?, byte_level(false)]).into()
            }
            PreTokenizer::Llama3 => {
                Sequence::new(vec![split(LLAMA3_PATTERN)?, byte_level(false)]).into()
            }
        })
    }
}

/// A tokenizer plus the ids of its special tokens.
#[derive(Clone)]
pub struct LlmTokenizer {
    inner: Tokenizer,
    special: SpecialIds,
}

impl std::fmt::Debug for LlmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("special", &self.special)
            .finish()
    }
}

impl LlmTokenizer {
    /// Reads a Hugging Face `tokenizer.json`. Special ids not given are looked up by their usual
    /// texts (`<unk>`, `<s>`, `</s>`).
    pub fn from_file(path: &Path, special: SpecialIds) -> Result<Self> {
        if !path.exists() {
            return Err(LlmError::MissingFile {
                path: path.to_owned(),
                hint: String::new(),
            });
        }
        let inner = Tokenizer::from_file(path)
            .map_err(|e| LlmError::Tokenizer(format!("{}: {e}", path.display())))?;
        let lookup = |text: &str| inner.token_to_id(text);
        let special = SpecialIds {
            bos: special.bos.or_else(|| lookup("<s>")),
            eos: special.eos.or_else(|| lookup("</s>")),
            pad: special.pad,
            unk: special.unk.or_else(|| lookup("<unk>")),
        };
        Ok(Self { inner, special })
    }

    /// A byte-level BPE tokenizer from a vocabulary (`tokens[id]` is the token's byte-level
    /// text) and its merges in rank order; the tokens with ids in `special_tokens` are matched
    /// whole inside any text, and `added_tokens` likewise but are not special.
    pub fn byte_level_bpe(
        tokens: &[String],
        merges: Vec<(String, String)>,
        pre: PreTokenizer,
        special_tokens: &[u32],
        added_tokens: &[u32],
        special: SpecialIds,
    ) -> Result<Self> {
        let mut vocab = Vocab::default();
        for (id, token) in tokens.iter().enumerate() {
            // A repeated token keeps its first id, as llama.cpp does.
            vocab.entry(token.clone()).or_insert(id as u32);
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| LlmError::Tokenizer(format!("building BPE: {e}")))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre.build()?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let added = |ids: &[u32], is_special: bool| -> Result<Vec<AddedToken>> {
            ids.iter()
                .map(|&id| {
                    let text = tokens.get(id as usize).ok_or_else(|| {
                        LlmError::Tokenizer(format!(
                            "special token id {id} is outside the vocabulary"
                        ))
                    })?;
                    Ok(AddedToken::from(text.clone(), is_special))
                })
                .collect()
        };
        inner.add_special_tokens(&added(special_tokens, true)?);
        inner.add_tokens(&added(added_tokens, false)?);
        Ok(Self { inner, special })
    }

    /// Token ids of `text`. Nothing is added (no BOS); special tokens written in the text, such as
    /// `<|im_start|>`, become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| LlmError::Tokenizer(format!("encoding {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| LlmError::Tokenizer(format!("decoding {ids:?}: {e}")))
    }

    /// The id of `text` when it encodes to exactly one token (" Yes" -> `ĠYes`).
    pub fn token_id(&self, text: &str) -> Result<u32> {
        match self.encode(text)?.as_slice() {
            [id] => Ok(*id),
            ids => Err(LlmError::Tokenizer(format!(
                "{text:?} is {} tokens ({ids:?}), not one",
                ids.len()
            ))),
        }
    }

    /// The vocabulary entry of `id` (byte-level text such as `ĠYes`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.special.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.special.eos
    }

    /// The padding id: the model's own, else EOS (as the CoLLM reference pads), else 0.
    pub fn pad_id(&self) -> u32 {
        self.special.pad.or(self.special.eos).unwrap_or(0)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying `tokenizers` object, for offsets or batch encoding.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Writes a Hugging Face `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, false)
            .map_err(|e| LlmError::Tokenizer(format!("{}: {e}", path.display())))
    }
}

/// GPT-2's reversible map from bytes to printable characters, in byte order.
pub(crate) fn byte_level_chars() -> Vec<char> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut next = 256u32;
    (0u32..256)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).expect("byte is a valid char")
            } else {
                let c = char::from_u32(next).expect("shifted byte is a valid char");
                next += 1;
                c
            }
        })
        .collect()
}
