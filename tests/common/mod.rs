//! Shared helpers of the integration tests: a temporary COLLM_HOME and store, the built binary,
//! and small experiment files on the shared ML-1M split.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

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

    /// `collm` with COLLM_HOME in the temporary folder and no `--store` (its default store).
    pub fn home_cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_collm"));
        cmd.env("COLLM_HOME", self.dir.path().join("home"))
            .env_remove("COLLM_LOG");
        cmd
    }

    /// A copy of the ML-1M split's items and training and evaluation splits in `data` under
    /// the temporary folder, for a test to change.
    pub fn ml1m_copy(&self) -> PathBuf {
        let data = self.dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        for file in ["items.tsv", "train.tsv", "valid.tsv", "valid_small.tsv"] {
            std::fs::copy(Path::new(ML1M).join(file), data.join(file)).unwrap();
        }
        data
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

    /// `collm --store <store> <args>` run in the temporary folder (a relative `store` is
    /// inside it); requires success and returns stdout as JSON.
    pub fn json_in_store(&self, store: &str, args: &[&str]) -> serde_json::Value {
        let out = self
            .home_cmd()
            .current_dir(self.dir.path())
            .args(["--store", store])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
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

/// A dataset folder in `dir` with ML-1M's items and evaluation splits and a `train.tsv` whose
/// line 2 has the label `maybe`: it passes the checks before a run and fails the run itself.
pub fn bad_dataset(dir: &Path) -> PathBuf {
    let data = dir.join("bad-data");
    std::fs::create_dir_all(&data).unwrap();
    for split in ["items", "valid", "valid_small"] {
        let file = format!("{split}.tsv");
        std::fs::copy(format!("{ML1M}/{file}"), data.join(&file)).unwrap();
    }
    let header = "uid\tiid\tlabel\ttimestamp\twarm\this\n";
    std::fs::write(
        data.join("train.tsv"),
        format!("{header}1\t2\tmaybe\t1\t1\t\n"),
    )
    .unwrap();
    data
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A child process that is killed and reaped when the test ends, whatever happened.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Env {
    /// Starts `collm <args>` and waits for a line of its stderr containing `marker`.
    pub fn start_until(&self, args: &[&str], marker: &str) -> (Running, BufReader<ChildStderr>) {
        Self::start_cmd_until(self.cmd(args), marker)
    }

    /// [`Env::start_until`] of a command set up by the caller.
    pub fn start_cmd_until(mut cmd: Command, marker: &str) -> (Running, BufReader<ChildStderr>) {
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut child = Running(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("collm {args:?} ended before printing {marker:?}:\n{seen}");
            }
            seen.push_str(&line);
            if line.contains(marker) {
                return (child, stderr);
            }
        }
    }
}

/// What a process said and how it ended after Ctrl-C.
pub struct Interrupted {
    pub code: Option<i32>,
    pub stdout: String,
    /// Its stderr after the line [`Env::start_until`] waited for.
    pub stderr: String,
}

/// Sends SIGINT (Ctrl-C) to a process started by [`Env::start_until`] and waits for its end.
pub fn ctrl_c(running: &mut Running, stderr: BufReader<ChildStderr>) -> Interrupted {
    signal_times(running, stderr, "INT", 1)
}

/// Sends `times` signals `name` (`HUP`) back to back (`timeout -s INT` sends two) and waits for
/// the process to end.
pub fn signal_times(
    running: &mut Running,
    mut stderr: BufReader<ChildStderr>,
    name: &str,
    times: usize,
) -> Interrupted {
    let child = &mut running.0;
    let kill = format!("kill -{name} {};", child.id()).repeat(times);
    let sent = Command::new("sh").args(["-c", &kill]).status().unwrap();
    assert!(sent.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    Interrupted {
        code: child.wait().unwrap().code(),
        stdout,
        stderr: rest,
    }
}
