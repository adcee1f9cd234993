//! Which backbone a name means (the built-in tiny random model, a file or folder, or a model of
//! the cache, pulled when missing) and loading it: one answer for runs and benches alike.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::hub::{self, TINY_RANDOM, TINY_RANDOM_SEED};
use crate::{Llm, LlmTokenizer, LoraConfig, Result};

/// A backbone, found: nothing is loaded yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Backbone {
    /// [`TINY_RANDOM`]: built in, seeded by [`TINY_RANDOM_SEED`], nothing to pull.
    TinyRandom,
    /// A GGUF file or a Hugging Face folder.
    Weights(PathBuf),
}

impl Backbone {
    /// `name` read as [`TINY_RANDOM`], else a path that exists, else a model of `models_dir`
    /// (pulled if known and missing); no name is the cache's default. `progress` hears a pull.
    pub fn find(
        models_dir: &Path,
        name: Option<&str>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Backbone> {
        match name {
            Some(TINY_RANDOM) => Ok(Backbone::TinyRandom),
            Some(path) if Path::new(path).exists() => Ok(Backbone::Weights(PathBuf::from(path))),
            Some(name) => hub::ensure(models_dir, name, progress).map(Backbone::Weights),
            None => hub::ensure_default(models_dir, progress).map(Backbone::Weights),
        }
    }

    /// The model and its tokenizer on `device`, the base weights in `dtype`.
    pub fn load(
        &self,
        lora: Option<&LoraConfig>,
        device: &Device,
        dtype: DType,
    ) -> Result<(Llm, LlmTokenizer)> {
        match self {
            Backbone::TinyRandom => {
                Llm::tiny_random_with_dtype(TINY_RANDOM_SEED, lora, device, dtype)
            }
            Backbone::Weights(path) => Llm::load_with_dtype(path, lora, device, dtype),
        }
    }

    /// What a report calls it: the file's name, or `tiny-random`.
    pub fn label(&self) -> String {
        match self {
            Backbone::TinyRandom => TINY_RANDOM.to_string(),
            Backbone::Weights(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiny_name_needs_no_cache_and_loads_the_seeded_model() {
        let empty = tempfile::tempdir().unwrap();
        let mut heard = Vec::new();
        let found = Backbone::find(empty.path(), Some(TINY_RANDOM), &mut |m| {
            heard.push(m.to_string())
        })
        .unwrap();
        assert_eq!(found, Backbone::TinyRandom);
        assert!(heard.is_empty(), "{heard:?}");
        assert_eq!(found.label(), "tiny-random");
        let (a, _) = found.load(None, &Device::Cpu, DType::F32).unwrap();
        let (b, _) =
            Llm::tiny_random_with_dtype(TINY_RANDOM_SEED, None, &Device::Cpu, DType::F32).unwrap();
        let ids = candle_core::Tensor::new(&[[3u32, 5, 7]], &Device::Cpu).unwrap();
        let embed = |m: &Llm| {
            let e = m.embed_tokens(&ids).unwrap();
            e.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert_eq!(embed(&a), embed(&b));
    }

    #[test]
    fn a_path_is_taken_as_given_and_an_unknown_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.gguf");
        std::fs::write(&file, b"").unwrap();
        let found = Backbone::find(dir.path(), Some(file.to_str().unwrap()), &mut |_| {}).unwrap();
        assert_eq!(found, Backbone::Weights(file));
        assert_eq!(found.label(), "model.gguf");
        assert!(Backbone::find(dir.path(), Some("no-such-model"), &mut |_| {}).is_err());
    }
}
