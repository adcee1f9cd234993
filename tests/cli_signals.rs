//! What happens to a run when its process is interrupted: Ctrl-C cancels it cleanly, SIGKILL
//! leaves it `running` on disk and the next opener marks it `interrupted`, and `collm resume`
//! then ends where the run left alone would have, to the bit; meanwhile a second process is told
//! who holds the store.

mod common;

use std::io::BufReader;
use std::path::Path;

use common::{ctrl_c, mf_experiment, path_str, Env, Interrupted, Running, ML1M, QUICK_COLLM_TINY};
use serde_json::Value;

/// Starts a run that would go on for a long time and waits for its first evaluation.
fn start_long_run(env: &Env) -> (Running, BufReader<std::process::ChildStderr>) {
    let exp = env.write("long.toml", &mf_experiment("long", 100_000, 100_000, 0.01));
    start_run_until(env, &exp, "(new best)")
}

/// Starts `collm run exp --json` and waits for a progress line containing `marker`.
fn start_run_until(
    env: &Env,
    exp: &Path,
    marker: &str,
) -> (Running, BufReader<std::process::ChildStderr>) {
    env.start_until(&["run", path_str(exp), "--json"], marker)
}

#[test]
fn ctrl_c_cancels_the_run_and_the_holder_is_named_meanwhile() {
    let env = Env::new();
    let (mut running, stderr) = start_long_run(&env);
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

    let Interrupted {
        code,
        stdout,
        stderr: rest,
    } = ctrl_c(&mut running, stderr);
    assert_eq!(code, Some(130), "stderr: {rest}");
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

/// `timeout -s INT` signals the process and then its group: two SIGINTs microseconds apart are
/// one request to stop, which cancels the run cleanly rather than quitting at once.
#[test]
fn two_signals_at_once_cancel_the_run_cleanly() {
    let env = Env::new();
    long_run_is_cancelled_by(&env, "INT", 2);
}

/// Starts a long run, sends it `times` signals `name` back to back, and checks that it ended
/// cancelled at its next step (exit status 130).
fn long_run_is_cancelled_by(env: &Env, name: &str, times: usize) {
    let (mut running, stderr) = start_long_run(env);
    let Interrupted {
        code,
        stdout,
        stderr: rest,
    } = common::signal_times(&mut running, stderr, name, times);
    assert_eq!(code, Some(130), "{rest}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "cancelled", "{rest}");
}

/// A closed terminal or ssh session (SIGHUP) cancels `collm run` at its next step as Ctrl-C
/// does (it killed the run, `interrupted`, losing the steps since its last resume point), unless
/// the run was started under `nohup`, which asked for it to outlive its terminal.
#[test]
fn a_hangup_cancels_the_run_unless_started_under_nohup() {
    let env = Env::new();
    long_run_is_cancelled_by(&env, "HUP", 1);

    let exp = env.write("long.toml", &mf_experiment("long", 100_000, 100_000, 0.01));
    let mut cmd = env.cmd(&["run", path_str(&exp), "--json"]);
    // SAFETY: `signal` is async-signal-safe, as a pre_exec hook requires.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let (mut running, stderr) = Env::start_cmd_until(cmd, "(new best)");
    let hup = format!("kill -HUP {}", running.0.id());
    assert!(std::process::Command::new("sh")
        .args(["-c", &hup])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        running.0.try_wait().unwrap().is_none(),
        "ignored, the hangup ends nothing"
    );
    let Interrupted { code, stdout, .. } = ctrl_c(&mut running, stderr);
    assert_eq!(code, Some(130));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "cancelled");
}

/// A run outlives the reader of its progress: `collm run ... | head -1` closes the pipe after
/// a line, and the run goes on to its end instead of dying of SIGPIPE.
#[test]
fn a_run_whose_reader_goes_away_still_finishes() {
    let env = Env::new();
    let exp = env.write("short.toml", &mf_experiment("short", 40, 40, 0.01));
    let (mut running, stderr) = env.start_until(&["run", path_str(&exp)], "short");
    let child = &mut running.0;
    drop(stderr);
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs[0]["status"], "finished", "{runs}");
}

/// The same with debug logs: every line after the reader left failed to write, which the log
/// subscriber reported with a panicking `eprintln!` (on a sled flusher: the run hung).
#[test]
fn a_run_logging_to_a_reader_that_goes_away_still_finishes() {
    let env = Env::new();
    let exp = env.write("short.toml", &mf_experiment("short", 40, 40, 0.01));
    let mut child = Running(
        env.cmd(&["run", path_str(&exp)])
            .env("COLLM_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.contains("DEBUG"), "{first}");
    drop(stderr);
    drop(child.0.stdout.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the run hangs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs[0]["status"], "finished", "{runs}");
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
    // `show` says how to go on: no process was left to say it.
    let shown = env.ok(&["show", id]);
    assert!(
        shown.contains(&format!("`collm resume {id}` continues it")),
        "{shown}"
    );
}

/// A run killed, then resumed on changed data, is refused with the files that changed and
/// keeps its status: its foundation would be selected on one version and scored on another.
/// With the files put back it resumes.
#[test]
fn a_run_is_not_resumed_on_a_dataset_changed_since_it_started() {
    let env = Env::new();
    let data = env.ml1m_copy();
    let text = mf_experiment("moved", 60, 60, 0.01).replace(ML1M, path_str(&data));
    let exp = env.write("moved.toml", &text);
    let (mut running, _stderr) = start_run_until(&env, &exp, "(new best)");
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    let id = env.json(&["runs", "--json"])[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();

    let train = data.join("train.tsv");
    let original = std::fs::read_to_string(&train).unwrap();
    let fewer: String = original
        .lines()
        .take(1000)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&train, fewer).unwrap();
    let out = env.output(&["resume", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is not what the run started on (train.tsv changed)"),
        "{err}"
    );
    assert_eq!(env.json(&["show", &id, "--json"])["status"], "interrupted");

    std::fs::write(&train, original).unwrap();
    let resumed = env.json(&["resume", &id, "--json"]);
    assert_eq!(resumed["status"], "finished", "{resumed}");
}

/// The tiny CoLLM experiment, its LoRA stage lengthened to 24 steps (a resume point every 4)
/// and its LoRA dropout raised to 0.3.
fn tiny_collm_with_dropout(env: &Env) -> std::path::PathBuf {
    let text = std::fs::read_to_string(QUICK_COLLM_TINY).unwrap().replacen(
        "max_steps = 8",
        "max_steps = 24",
        1,
    ) + "\n[collm.lora]\ndropout = 0.3\n";
    env.write("tiny-dropout.toml", &text)
}

/// Waits until the resume point of `stage`, somewhere under `dir`, is past `step`.
fn wait_for_resume_point(dir: &Path, stage: &str, step: u64) {
    fn find(dir: &Path, stage: &str, step: u64) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let path = e.path();
            let state = path.join(stage).join("last").join("state.json");
            let reached = std::fs::read_to_string(&state)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v["step"].as_u64().is_some_and(|s| s >= step));
            reached || (path.is_dir() && find(&path, stage, step))
        })
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !find(dir, stage, step) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {stage} resume point past step {step}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Every recorded training loss of a run's export by (stage, step), each step once: a step
/// run before a kill and again after the resume is recorded once (the resume supersedes it).
fn losses_by_step(env: &Env, id: &str) -> std::collections::BTreeMap<(String, u64), f64> {
    let export = env.json(&["export", id, "--format", "json"]);
    let mut out = std::collections::BTreeMap::new();
    for p in export["steps"].as_array().unwrap() {
        let key = (
            p["stage"].as_str().unwrap().to_string(),
            p["step"].as_u64().unwrap(),
        );
        let loss = p["loss"].as_f64().unwrap();
        assert!(
            out.insert(key.clone(), loss).is_none(),
            "{key:?} recorded twice"
        );
    }
    assert_eq!(export["record"]["steps"].as_u64(), Some(out.len() as u64));
    out
}

#[test]
fn a_killed_collm_run_resumes_to_the_uninterrupted_result() {
    killed_collm_run_resumes(false);
}

/// The interrupted stage's folder gone before the resume: the stage starts again from scratch,
/// and what its killed attempt recorded goes (each step and evaluation is there once).
#[test]
fn a_killed_collm_run_without_its_stage_folder_starts_the_stage_again() {
    killed_collm_run_resumes(true);
}

/// Kills a tiny CoLLM run in its LoRA stage, (`lose_stage_folder`: removes that stage's
/// folder,) resumes it, and compares it with the run left alone.
fn killed_collm_run_resumes(lose_stage_folder: bool) {
    // Two homes, so that the resume point waited for is the killed run's.
    let (env, straight_env) = (Env::new(), Env::new());
    let straight = straight_env.json(&[
        "run",
        path_str(&tiny_collm_with_dropout(&straight_env)),
        "--json",
    ]);
    assert_eq!(straight["status"], "finished", "{straight}");

    // Killed in the middle of the LoRA stage, once it has a resume point to continue from.
    let (mut running, _stderr) =
        start_run_until(&env, &tiny_collm_with_dropout(&env), "stage stage1 started");
    wait_for_resume_point(&env.store(), "stage1", 4);
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    let runs = env.json(&["runs", "--json"]);
    let killed = &runs.as_array().unwrap()[0];
    assert_eq!(killed["status"], "interrupted", "{killed}");
    let id = killed["run_id"].as_str().unwrap();
    // Its foundation's scores are kept; the final model's come once it finishes.
    let out = env.output(&["ensemble", &format!("{id}:cf"), id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(&format!(
                "run {id} is interrupted: it keeps per-row scores of `valid` once it finishes; \
                 `collm resume {id}` finishes it"
            )),
        "{err}"
    );

    // Its foundation finished and may be reused; its stage 1 did not, and is refused before
    // a run exists.
    let exp = tiny_collm_with_dropout(&env);
    let out = env.output(&["run", path_str(&exp), "--reuse", &format!("stage1={id}")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(&format!(
                "--reuse stage1={id}: its stage1 did not finish (the run is interrupted); \
                 `collm resume {id}` finishes it"
            )),
        "{err}"
    );
    assert_eq!(env.json(&["runs", "--json"]).as_array().unwrap().len(), 1);
    // The foundation it finished is scored as a finished run's would be; stage 1 is not.
    let cf = env.json(&["eval", &format!("{id}:cf"), "--split", "valid", "--json"]);
    assert!(cf["splits"]["valid"]["all"]["auc"].is_number(), "{cf}");
    let out = env.output(&["eval", &format!("{id}:stage1"), "--split", "valid"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let why = format!("its stage1 did not finish, and `collm eval` scores a finished run's best weights or a part the run finished (here `{id}:cf`)");
    assert!(!out.status.success() && err.contains(&why), "{err}");

    if lose_stage_folder {
        std::fs::remove_dir_all(env.store().join("runs").join(id).join("stage1")).unwrap();
    }
    let out = env.output(&["resume", id, "--json"]);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        progress.contains("stage1: resumed after step"),
        !lose_stage_folder,
        "{progress}"
    );
    let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resumed["status"], "finished", "{resumed}");
    assert_eq!(resumed["splits"], straight["splits"]);
    let straight_id = straight["run_id"].as_str().unwrap();
    assert_eq!(
        losses_by_step(&env, id),
        losses_by_step(&straight_env, straight_id)
    );
    // And the same evaluations, each once (the foundation's final one was recorded again).
    let evaluations = |env: &Env, id: &str| -> Vec<(String, u64, String)> {
        let export: Value =
            serde_json::from_str(&env.ok(&["export", id, "--format", "json"])).unwrap();
        let mut points: Vec<(String, u64, String)> = export["evals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_string();
                (text("stage"), e["step"].as_u64().unwrap(), text("split"))
            })
            .collect();
        points.sort();
        points
    };
    assert_eq!(
        evaluations(&env, id),
        evaluations(&straight_env, straight_id)
    );
}
