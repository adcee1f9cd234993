//! Shared helpers of the integration tests: a temporary COLLM_HOME and store, the built binary,
//! and small experiment files on the shared ML-1M split.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ML1M: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/ml-1m-collm");

/// CoLLM in miniature on the built-in tiny LLM: seconds, no download.
pub const QUICK_COLLM_TINY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/experiments/quick-collm-tiny.toml"
);

/// A small MF experiment on ML-1M that learns within a few epochs.
pub fn mf_experiment(name: &str, max_epochs: usize, patience: usize, lr: f64) -> String {
    format!(
        r#"name = "{name}"
device = "cpu"

[dataset]
path = "{ML1M}"

[model]
kind = "mf"
dim = 16
init_std = 0.1

[training]
lr = {lr:?}
weight_decay = 1e-6
batch_size = 2048
max_epochs = {max_epochs}
patience = {patience}
seed = 2023

[evaluation]
splits = ["valid", "valid_small"]
"#
    )
}

/// A temporary collm home with its own store.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// `collm --store <store> <args>` with COLLM_HOME in the temporary folder.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_collm"));
        cmd.env("COLLM_HOME", self.dir.path().join("home"))
            .env_remove("COLLM_LOG")
            .arg("--store")
            .arg(self.store())
            .args(args);
        cmd
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs the command, requires success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "collm {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        path
    }
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
