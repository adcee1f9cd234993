//! Where collm keeps things on disk: one home folder holding the store, the model cache and
//! imported datasets.
//!
//! `COLLM_HOME` overrides the home (tests point it at a temporary folder); otherwise it is
//! `$HOME/.collm`.

use std::path::PathBuf;

/// The collm home folder (not created here).
pub fn home() -> PathBuf {
    // Set but empty (`COLLM_HOME= collm runs`) is unset, not the working directory.
    if let Some(dir) = std::env::var_os("COLLM_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    base.join(".collm")
}

/// Refuses a home that is there but is no folder (`COLLM_HOME` set to a file), which would
/// otherwise read as a home without runs, models or datasets.
pub fn check_home() -> anyhow::Result<()> {
    let home = home();
    match std::fs::metadata(&home) {
        Ok(meta) if !meta.is_dir() => anyhow::bail!(
            "the collm home {} is not a folder (set COLLM_HOME to a folder, or unset it for \
             ~/.collm)",
            home.display()
        ),
        _ => Ok(()),
    }
}

/// The default run store.
pub fn store_dir() -> PathBuf {
    home().join("store")
}

/// Downloaded and registered LLM backbones.
pub fn models_dir() -> PathBuf {
    home().join("models")
}

/// Datasets imported from raw data (the embedded default among them).
pub fn data_dir() -> PathBuf {
    home().join("data")
}
