//! The real `collm` binary in a real terminal (tmux): start it, launch the quick experiment,
//! watch its loss curve move, open help, quit. Also: no terminal means a hint and a failure, and
//! a store held by the TUI refuses a second process, naming the TUI.
//!
//! `tui_screenshots` (ignored) keeps a text capture of every view during a live run and after it in
//! `$COLLM_TUI_SCREENS`. `tui_input_latency` (ignored: it trains for a while) measures how fast
//! keys are answered while training saturates the CPU; run it with
//! `cargo test --release --test tui_e2e -- --ignored --nocapture tui_input_latency`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_collm");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A tmux server of its own (its own socket), killed on drop.
struct Tmux {
    socket: String,
    home: tempfile::TempDir,
    /// Where to keep screen captures, if `COLLM_TUI_SCREENS` names a folder.
    screens: Option<PathBuf>,
}

impl Tmux {
    /// None when tmux is not installed.
    fn start(name: &str, width: u16, height: u16, extra_env: &[(&str, &str)]) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let home = tempfile::tempdir().unwrap();
        let socket = format!("collm-test-{}-{name}", std::process::id());
        let env: String = extra_env
            .iter()
            .map(|(k, v)| format!("{k}='{v}' "))
            .collect();
        // The exit status is printed after the app ends, and the pane stays for us to read it.
        let script = format!(
            "cd '{ROOT}' && env COLLM_HOME='{}' TERM=xterm-256color {env}'{BIN}' --store '{}'; echo EXIT=$?; sleep 60",
            home.path().join("home").display(),
            home.path().join("store").display(),
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["sh", "-c", &script])
            .status()
            .unwrap();
        assert!(status.success(), "tmux could not start");
        let screens = std::env::var_os("COLLM_TUI_SCREENS").map(PathBuf::from);
        if let Some(dir) = &screens {
            std::fs::create_dir_all(dir).unwrap();
        }
        Some(Tmux {
            socket,
            home,
            screens,
        })
    }

    fn store(&self) -> PathBuf {
        self.home.path().join("store")
    }

    fn collm_home(&self) -> PathBuf {
        self.home.path().join("home")
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// tmux key names (`Tab`, `Enter`, `Escape`) or literal text.
    fn send(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "t", keys]);
    }

    /// Waits until the screen satisfies `pred`; fails with the last screen after `timeout`.
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.poll(what, timeout, Duration::from_millis(50), pred)
    }

    /// `wait`, re-reading the screen every `every`.
    fn poll(
        &self,
        what: &str,
        timeout: Duration,
        every: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; screen:\n{screen}\nlog:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(every);
        }
    }

    fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait(&format!("`{text}`"), timeout, |s| s.contains(text))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.collm_home().join("logs/tui.log")).unwrap_or_default()
    }

    fn keep(&self, name: &str, screen: &str) {
        if let Some(dir) = &self.screens {
            std::fs::write(dir.join(format!("{name}.txt")), screen).unwrap();
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The `step N` of the run view's progress line.
fn step_of(screen: &str) -> Option<u64> {
    let at = screen.find(" step ")?;
    let digits: String = screen[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Whether the screen shows the Run view's header of a run of experiment `name` in `status`
/// (`261206-142153 finished  1m02s  quick-collm-tiny`).
fn header_of(screen: &str, status: &str, name: &str) -> bool {
    screen.lines().any(|line| {
        let words: Vec<&str> = line
            .trim_matches(|c: char| c == '│' || c.is_whitespace())
            .split_whitespace()
            .collect();
        words.get(1) == Some(&status) && words.last() == Some(&name)
    })
}

/// Selects `label` in the launch view's experiment list (the launch view open) and returns the
/// screen showing its settings.
fn choose_experiment(t: &Tmux, label: &str) -> String {
    t.send("h");
    t.send("g");
    for _ in 0..experiment_index(label) {
        t.send("j");
    }
    t.wait_for(
        &format!("Settings of {}", label.trim_end_matches(".toml")),
        Duration::from_secs(5),
    )
}

/// The position of `label` in the launch view's experiment list.
fn experiment_index(label: &str) -> usize {
    let choices = collm_bench::tui::backend::list_experiments(&Path::new(ROOT).join("experiments"));
    choices
        .iter()
        .position(|c| c.label == label)
        .unwrap_or_else(|| panic!("no {label} in experiments/"))
}

/// The quick experiment the end-to-end test launches: the whole CoLLM pipeline on the built-in
/// tiny random LLM (no download, seconds of training).
const QUICK_EXPERIMENT: &str = "quick-collm-tiny.toml";

#[test]
fn tui_end_to_end_in_tmux() {
    let Some(t) = Tmux::start("e2e", 120, 36, &[]) else {
        return;
    };
    let screen = t.wait_for("Runs 0/0", Duration::from_secs(20));
    t.keep("01-runs-empty", &screen);

    // One store, one writer: the TUI holds it, a second process is told who does.
    let second = Command::new(BIN)
        .env("COLLM_HOME", t.collm_home())
        .args(["--store", t.store().to_str().unwrap(), "runs"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        err.contains("is held by pid") && err.contains("collm"),
        "{err}"
    );

    // Launch the quick experiment from the launch view.
    t.send("6");
    t.wait_for("Experiments", Duration::from_secs(5));
    let screen = choose_experiment(&t, QUICK_EXPERIMENT);
    t.keep("02-launch", &screen);
    t.send("L");
    t.wait_for("stages:", Duration::from_secs(60));
    // The loss curve moves: the step count rises while the run trains.
    let first = t.wait("a first step", Duration::from_secs(120), |s| {
        step_of(s).is_some_and(|n| n > 0)
    });
    let n0 = step_of(&first).unwrap();
    t.keep("03-run-live", &first);
    let later = t.wait("more steps", Duration::from_secs(120), |s| {
        step_of(s).is_some_and(|n| n > n0) || s.contains("finished")
    });
    assert!(later.contains("loss"), "{later}");
    t.keep("04-run-later", &later);

    // Help, then back.
    t.send("?");
    let help = t.wait_for("Help — ↑↓ scroll", Duration::from_secs(5));
    assert!(help.contains("show or hide this help"));
    t.keep("05-help", &help);
    t.send("Escape");
    t.wait("help closed", Duration::from_secs(5), |s| {
        !s.contains("Help — ↑↓ scroll")
    });

    // Quit; confirm if the run is still going.
    t.send("q");
    let screen = t.wait("quit or confirmation", Duration::from_secs(10), |s| {
        s.contains("EXIT=") || s.contains("Quit?")
    });
    if screen.contains("Quit?") {
        t.keep("06-quit-confirm", &screen);
        t.send("y");
    }
    let end = t.wait_for("EXIT=", Duration::from_secs(60));
    assert!(end.contains("EXIT=0"), "{end}");
    // The terminal is back to normal: the shell's output is on the main screen.
    let log = t.log();
    assert!(log.contains("TUI closed"), "{log}");

    // The run is in the store, ended.
    let store = collm_store::Store::open(t.store()).unwrap();
    let runs = store.runs().unwrap().runs;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].status.is_terminal(), "{:?}", runs[0].status);
}

/// How the TUI is told to stop from outside.
enum Ending {
    /// `kill -TERM` (a service manager, `timeout`).
    Terminate,
    /// The terminal goes away (its window or ssh session closes): SIGHUP, and every write to
    /// the terminal fails.
    HangUp,
}

/// SIGTERM, or the terminal closing, quits as `q` then `y` would: the terminal is given back
/// (when there is one) and the run it trains ends cancelled (resumable where it stopped), not
/// `interrupted` by a process that died with the terminal raw, or aborted writing to a
/// terminal that is gone.
fn an_ending_from_outside_cancels_the_run(ending: Ending) {
    let name = match ending {
        Ending::Terminate => "sigterm",
        Ending::HangUp => "hangup",
    };
    let Some(t) = Tmux::start(name, 120, 36, &[]) else {
        return;
    };
    t.wait_for("Runs 0/0", Duration::from_secs(20));
    t.send("6");
    t.wait_for("Experiments", Duration::from_secs(5));
    choose_experiment(&t, QUICK_EXPERIMENT);
    t.send("L");
    t.wait("a first step", Duration::from_secs(120), |s| {
        step_of(s).is_some_and(|n| n > 0)
    });
    match ending {
        Ending::Terminate => {
            let pane = t.tmux(&["display", "-p", "-t", "t", "#{pane_pid}"]);
            let shell = String::from_utf8_lossy(&pane.stdout).trim().to_string();
            let children =
                std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
            let tui = children.split_whitespace().next().expect("the TUI process");
            let killed = Command::new("kill").args(["-TERM", tui]).status().unwrap();
            assert!(killed.success());
            let end = t.wait_for("EXIT=", Duration::from_secs(60));
            assert!(end.contains("EXIT=0"), "{end}");
            let alternate = t.tmux(&["display", "-p", "-t", "t", "#{alternate_on}"]);
            assert_eq!(
                String::from_utf8_lossy(&alternate.stdout).trim(),
                "0",
                "{end}"
            );
            assert!(t.log().contains("SIGTERM: quitting"), "{}", t.log());
        }
        Ending::HangUp => {
            t.tmux(&["kill-server"]);
        }
    }
    // The store opens once the process has ended and let go of it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let store = loop {
        match collm_store::Store::open(t.store()) {
            Ok(store) => break store,
            Err(err) if Instant::now() > deadline => panic!("{err}\nlog:\n{}", t.log()),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(t.log().contains("TUI closed"), "{}", t.log());
    let runs = store.runs().unwrap().runs;
    assert_eq!(runs.len(), 1);
    assert!(
        matches!(
            runs[0].status,
            collm_store::RunStatus::Cancelled | collm_store::RunStatus::Finished
        ),
        "{:?}",
        runs[0].status
    );
}

#[test]
fn sigterm_quits_cleanly_and_cancels_the_run() {
    an_ending_from_outside_cancels_the_run(Ending::Terminate);
}

#[test]
fn a_closed_terminal_quits_cleanly_and_cancels_the_run() {
    an_ending_from_outside_cancels_the_run(Ending::HangUp);
}

#[test]
fn without_a_terminal_it_says_what_to_run_and_fails() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env("COLLM_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs an interactive terminal") && err.contains("collm run"),
        "{err}"
    );
    // Nothing was opened: no store was created.
    assert!(!home.path().join("store").exists());
}

/// Measures key-to-screen latency while a long MF run trains: toggles help with `?` / Esc and
/// times, from just before `tmux send-keys` to the first capture showing the change, polling the
/// pane as fast as tmux answers. Prints the numbers; asserts nothing about speed.
#[test]
#[ignore]
fn tui_input_latency() {
    let Some(t) = Tmux::start("latency", 120, 36, &[("RUST_LOG", "info")]) else {
        return;
    };
    t.wait_for("Runs 0/0", Duration::from_secs(20));
    t.send("6");
    t.wait_for("Experiments", Duration::from_secs(5));
    // The built-in default: MF dim 256, thousands of epochs at most: it trains throughout.
    t.send("L");
    t.wait("training", Duration::from_secs(180), |s| {
        step_of(s).is_some_and(|n| n > 0)
    });
    let mut samples: Vec<f64> = Vec::new();
    let busy_before = cpu_times();
    for i in 0..100 {
        let (key, shown) = if i % 2 == 0 {
            ("?", true)
        } else {
            ("Escape", false)
        };
        let t0 = Instant::now();
        t.send(key);
        // Re-read the pane as fast as tmux answers (each capture takes about a millisecond).
        t.poll(
            "the key's effect",
            Duration::from_secs(5),
            Duration::ZERO,
            |s| s.contains("Help — ↑↓ scroll") == shown,
        );
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(100));
    }
    let busy_after = cpu_times();
    let (busy, total) = (busy_after.0 - busy_before.0, busy_after.1 - busy_before.1);
    let training = t.capture();
    t.keep("latency-run", &training);
    t.send("q");
    t.wait_for("Quit?", Duration::from_secs(5));
    t.send("y");
    t.wait_for("EXIT=", Duration::from_secs(60));
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "end to end (tmux send-keys -> capture-pane shows it), {} keys: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        samples.len(),
        q(0.5),
        q(0.95),
        q(1.0)
    );
    let log = t.log();
    let inside = log
        .lines()
        .rfind(|l| l.contains("input latency"))
        .unwrap_or("(no summary in the log)");
    println!("inside the app (key read -> frame written): {inside}");
    println!(
        "during the measurement: all CPUs {:.0}% busy; training at {}",
        100.0 * busy as f64 / total.max(1) as f64,
        step_of(&training).map_or("?".into(), |s| format!("step {s}"))
    );
}

/// (busy, total) jiffies of all CPUs from /proc/stat ((0, 0) where there is none).
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    // idle + iowait are not busy.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The metrics view of three runs once the background has answered how they differ.
fn metrics_measured(t: &Tmux) -> String {
    t.wait("the metrics view measured", Duration::from_secs(10), |s| {
        s.contains("Metrics · 3 run(s)") && s.contains("Differences") && !s.contains("measuring")
    })
}

/// Text captures of every view while a run trains and after runs ended, for the record:
/// `COLLM_TUI_SCREENS=DIR cargo test --test tui_e2e -- --ignored tui_screenshots`.
#[test]
#[ignore]
fn tui_screenshots() {
    let Some(t) = Tmux::start("shots", 120, 36, &[]) else {
        return;
    };
    let long = Duration::from_secs(300);
    t.wait_for("Runs 0/0", Duration::from_secs(20));
    // Run 1: CoLLM on the tiny LLM, to the end (seconds).
    t.send("6");
    t.wait_for("Experiments", Duration::from_secs(5));
    choose_experiment(&t, QUICK_EXPERIMENT);
    t.send("L");
    t.wait("run 1 finished", long, |s| {
        header_of(s, "finished", "quick-collm-tiny")
    });
    // Run 2: quick-mf with lr 0.05, edited in the form.
    t.send("6");
    choose_experiment(&t, "quick-mf.toml");
    t.send("l");
    t.send("j");
    t.send("Enter");
    for _ in 0..8 {
        t.send("BSpace");
    }
    t.send("0.05");
    t.send("Enter");
    t.wait_for("0.05", Duration::from_secs(5));
    t.send("L");
    // Run 3: CoLLM on SmolLM2-135M: the live screens are taken while its LoRA stage trains.
    t.send("6");
    choose_experiment(&t, "quick-collm.toml");
    t.send("L");
    let live = t.wait("run 3 in its LLM stage", Duration::from_secs(1800), |s| {
        header_of(s, "running", "quick-collm")
            && s.contains("stage1 step")
            && step_of(&s[s.find("stage1 step").unwrap_or(0)..]).is_some_and(|n| n >= 2)
    });
    t.keep("live-2-run", &live);
    t.send("1");
    let screen = t.wait_for("Runs 3/3", Duration::from_secs(5));
    t.keep("live-1-runs", &screen);
    t.send(" ");
    t.send(" ");
    t.send(" ");
    t.wait_for("3 marked", Duration::from_secs(5));
    t.send("3");
    t.keep("live-3-metrics", &metrics_measured(&t));
    t.send("4");
    t.keep(
        "live-4-compare",
        &t.wait_for("settings differ · at", Duration::from_secs(5)),
    );
    t.send("5");
    t.wait_for("user 1", Duration::from_secs(60));
    t.send("Enter");
    t.keep(
        "live-5-prompt",
        &t.wait_for("hybrid prompt", Duration::from_secs(60)),
    );
    t.send("6");
    // The form's last line: the whole view is drawn, not only its top.
    t.keep(
        "live-6-launch",
        &t.wait_for("L launch as edited", Duration::from_secs(5)),
    );
    t.send("?");
    t.keep(
        "live-7-help",
        &t.wait_for("Help — ↑↓ scroll", Duration::from_secs(5)),
    );
    t.send("Escape");
    // Closed before the next key: an Escape followed at once by `2` reads as Alt-2.
    t.wait("the help closed", Duration::from_secs(5), |s| {
        !s.contains("Help — ↑↓ scroll")
    });
    // Cancel run 3; every view again.
    t.send("2");
    t.send("c");
    t.keep(
        "after-2-run-cancelled",
        &t.wait("run 3 cancelled", long, |s| {
            header_of(s, "cancelled", "quick-collm")
        }),
    );
    t.send("1");
    t.keep(
        "after-1-runs",
        &t.wait_for("cancelled", Duration::from_secs(5)),
    );
    t.send("3");
    t.keep("after-3-metrics", &metrics_measured(&t));
    t.send("4");
    t.keep(
        "after-4-compare",
        &t.wait_for("settings differ · at", Duration::from_secs(5)),
    );
    // The finished CoLLM run's screen, and its P(Yes) and token count in the inspector.
    t.send("1");
    t.send("/");
    t.send("tiny");
    t.send("Enter");
    t.send("Enter");
    t.keep(
        "after-2-run-finished",
        &t.wait("the tiny run's view", Duration::from_secs(10), |s| {
            header_of(s, "finished", "quick-collm-tiny")
        }),
    );
    t.send("5");
    t.send("Enter");
    t.keep(
        "after-5-prompt",
        &t.wait_for("final model's P(Yes)", Duration::from_secs(120)),
    );
    t.send("q");
    assert!(t
        .wait_for("EXIT=", Duration::from_secs(60))
        .contains("EXIT=0"));
}
