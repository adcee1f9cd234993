//! What happens to a run when its process is interrupted: Ctrl-C cancels it cleanly, SIGKILL
//! leaves it `running` on disk and the next opener marks it `interrupted`; meanwhile a second
//! process is told who holds the store.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};

use common::{mf_experiment, path_str, Env};
use serde_json::Value;

/// A child process that is killed and reaped when the test ends, whatever happened.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a run that would go on for a long time and waits for its first evaluation.
fn start_long_run(env: &Env) -> (Running, BufReader<std::process::ChildStderr>) {
    let exp = env.write("long.toml", &mf_experiment("long", 100_000, 100_000, 0.01));
    let mut child = Running(
        env.cmd(&["run", path_str(&exp), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the run ended before its first evaluation:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("(new best)") {
            return (child, stderr);
        }
    }
}

#[test]
fn ctrl_c_cancels_the_run_and_the_holder_is_named_meanwhile() {
    let env = Env::new();
    let (mut running, mut stderr) = start_long_run(&env);
    let child = &mut running.0;

    let out = env.output(&["runs"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let store = env.store();
    let expected = format!(
        "store {} is held by pid {} (collm --store",
        store.display(),
        child.id()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains(" run ") && err.contains(" since "), "{err}");

    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "stderr: {rest}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "cancelled");
    assert!(rest.contains("cancelled"), "{rest}");

    let id = report["run_id"].as_str().unwrap();
    let shown = env.json(&["show", id, "--json"]);
    assert_eq!(shown["status"], "cancelled");
    // Its best weights so far are on disk and recorded.
    let full = env.json(&["export", id, "--format", "json"]);
    let artifacts = full["record"]["artifacts"].as_array().unwrap();
    assert!(artifacts
        .iter()
        .any(|a| std::path::Path::new(a["path"].as_str().unwrap()).is_file()));
}

#[test]
fn a_killed_run_is_marked_interrupted_at_the_next_open() {
    let env = Env::new();
    let (mut running, _stderr) = start_long_run(&env);
    let child = &mut running.0;
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();

    let runs = env.json(&["runs", "--json"]);
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["status"], "interrupted", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {pid}")),
        "{run}"
    );
    // Its evaluations up to the kill were flushed.
    let id = run["run_id"].as_str().unwrap();
    let full = env.json(&["export", id, "--format", "json"]);
    assert!(!full["evals"].as_array().unwrap().is_empty());
}
