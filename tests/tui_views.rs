//! Every TUI view drawn with ratatui's TestBackend over a fixture store, as text snapshots, and
//! the state changes behind them (keys, live events) driven through `update`.

use std::path::Path;

use collm_bench::compare::Target;
use collm_bench::tui::app::App;
use collm_bench::tui::backend::{experiments_message, load_run, load_runs};
use collm_bench::tui::inspect::Inspector;
use collm_bench::tui::message::{Command, Message};
use collm_bench::tui::theme::Theme;
use collm_bench::tui::{update, view};
use collm_eval::predictions::{write_predictions, Prediction};
use collm_eval::{Breakdown, Metrics};
use collm_events::Event;
use collm_store::{RunId, Store};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// 2025-06-01 12:00:00 UTC: every fixture time is pinned to it, so snapshots do not move.
const BASE_MS: u64 = 1_748_779_200_000;
const WIDTH: u16 = 110;
const HEIGHT: u16 = 32;

fn experiment(name: &str, lr: f64, dim: usize) -> String {
    format!(
        "name = \"{name}\"\nkind = \"cf\"\ndevice = \"cpu\"\n\n[dataset]\nsource = \"embedded\"\n\n\
         [model]\nkind = \"mf\"\ndim = {dim}\n\n[training]\nlr = {lr:?}\nweight_decay = 1e-5\n\
         batch_size = 2048\nmax_epochs = 20\npatience = 5\nseed = 2023\n\n[evaluation]\nsplits = [\"valid\"]\n"
    )
}

fn metrics(auc: f64) -> Breakdown {
    let m = |auc: f64, rows: usize, users: usize| Metrics {
        auc: Some(auc),
        uauc: Some(auc - 0.05),
        logloss: Some(1.0 - auc),
        rows,
        users_counted: users,
    };
    Breakdown {
        all: m(auc, 1000, 80),
        warm: m(auc + 0.01, 900, 75),
        cold: m(auc - 0.1, 100, 5),
    }
}

/// A training stage: `steps` steps of a decaying, wobbling loss; an evaluation every 10 steps.
fn train(store: &Store, id: &RunId, steps: u64, total: u64, auc0: f64) {
    let stage = "cf".to_string();
    store
        .append_event(
            id,
            &Event::StageStarted {
                stage: stage.clone(),
                total_steps: Some(total),
            },
        )
        .unwrap();
    for step in 1..=steps {
        let wobble = if step % 2 == 0 { 0.03 } else { -0.03 };
        let loss = 0.7 * (-(step as f64) / 30.0).exp() + 0.3 + wobble;
        store
            .append_event(
                id,
                &Event::Step {
                    stage: stage.clone(),
                    step,
                    loss,
                    lr: 1e-2,
                },
            )
            .unwrap();
        if step % 10 == 0 {
            let auc = auc0 + step as f64 / 1000.0;
            store
                .append_event(
                    id,
                    &Event::Eval {
                        stage: stage.clone(),
                        step,
                        split: "valid".into(),
                        metrics: metrics(auc),
                    },
                )
                .unwrap();
        }
    }
}

/// Three runs: finished (with final results), running, failed.
fn fixture_store(dir: &Path) -> Store {
    let store = Store::open(dir).unwrap();
    let a = store
        .create_run("mf-small", &experiment("mf-small", 1e-2, 32), "cf")
        .unwrap();
    store
        .append_event(
            &a,
            &Event::Log {
                message: "loading dataset ml-latest-small".into(),
            },
        )
        .unwrap();
    train(&store, &a, 60, 60, 0.62);
    store
        .append_event(
            &a,
            &Event::Checkpoint {
                stage: "cf".into(),
                step: 60,
                path: "runs/a/best.safetensors".into(),
                best: true,
            },
        )
        .unwrap();
    store
        .append_event(&a, &Event::StageFinished { stage: "cf".into() })
        .unwrap();
    for (split, auc) in [("valid", 0.681), ("valid_small", 0.672)] {
        store
            .append_event(
                &a,
                &Event::Eval {
                    stage: "final".into(),
                    step: 60,
                    split: split.into(),
                    metrics: metrics(auc),
                },
            )
            .unwrap();
    }
    store.append_event(&a, &Event::Finished).unwrap();

    let b = store
        .create_run("mf-wide", &experiment("mf-wide", 1e-3, 64), "cf")
        .unwrap();
    train(&store, &b, 40, 100, 0.60);
    keep_scores(&store, &a, 0.4);
    keep_scores(&store, &b, 0.0);

    let c = store
        .create_run(
            "lightgcn",
            &experiment("lightgcn", 5e-3, 32).replace("kind = \"mf\"", "kind = \"lightgcn\""),
            "cf",
        )
        .unwrap();
    train(&store, &c, 5, 100, 0.5);
    store
        .append_event(
            &c,
            &Event::Failed {
                error: "out of memory while propagating".into(),
            },
        )
        .unwrap();
    store
}

/// Per-row scores of `valid` in the run's folder, as a finished run keeps them: 40 users x 6
/// rows, the same rows for every run; `skill` lifts the positives' scores.
fn keep_scores(store: &Store, id: &RunId, skill: f32) {
    keep_part_scores(store, id, None, skill);
}

/// [`keep_scores`] of a part of a run (`cf`, `stage1`), where the runner keeps those.
fn keep_part_scores(store: &Store, id: &RunId, part: Option<&str>, skill: f32) {
    keep_rows(store, id, "valid", part, 240, skill);
}

/// The first `rows` of [`keep_scores`]' rows, kept as scores of `split` (of `part`).
fn keep_rows(store: &Store, id: &RunId, split: &str, part: Option<&str>, rows: u32, skill: f32) {
    let rows: Vec<Prediction> = (0..rows)
        .map(|i| {
            let label = (i % 2) as u8;
            // A fixed pseudo-random base score per row (no RNG: the snapshot must not move).
            let noise = ((i * 7919) % 101) as f32 / 100.0;
            Prediction {
                uid: i / 6,
                iid: i,
                label,
                warm: i % 5 != 0,
                logit: noise + skill * label as f32,
            }
        })
        .collect();
    let path = collm_bench::runner::predictions::predictions_path(&store.run_dir(id), split, part);
    write_predictions(&path, &rows).unwrap();
}

/// The shipped CoLLM experiment on the tiny random LLM, as text.
/// A store at `dir` with a tiny CoLLM run per `(name, events)`, each given its events.
fn store_of_collm_runs(dir: &Path, runs: Vec<(&str, Vec<Event>)>) -> Store {
    let store = Store::open(dir).unwrap();
    for (name, events) in runs {
        let id = store.create_run(name, &tiny_collm(), "collm").unwrap();
        for event in &events {
            store.append_event(&id, event).unwrap();
        }
    }
    store
}

fn tiny_collm() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/quick-collm-tiny.toml"
    ))
    .unwrap()
}

/// Records the final evaluation of `valid` (of `part`, or of the run itself) at `auc`, and keeps
/// per-row scores of that `skill`.
fn evaluated(store: &Store, id: &RunId, part: Option<&str>, auc: f64, skill: f32) {
    let eval = Event::Eval {
        stage: part.map_or("final".to_string(), |p| format!("final-{p}")),
        step: 0,
        split: "valid".into(),
        metrics: metrics(auc),
    };
    store.append_event(id, &eval).unwrap();
    keep_part_scores(store, id, part, skill);
}

/// Pins ids and times of everything loaded from the fixture store (ids and times come from the
/// clock; snapshots must not).
struct Pin {
    ids: Vec<(RunId, RunId)>,
}

impl Pin {
    fn new(store: &Store) -> Pin {
        let runs = store.runs().unwrap().runs;
        let ids = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.id.clone(),
                    RunId::parse(&format!("250601-12000{i}")).unwrap(),
                )
            })
            .collect();
        Pin { ids }
    }

    fn id(&self, id: &RunId) -> RunId {
        self.ids
            .iter()
            .find(|(from, _)| from == id)
            .map(|(_, to)| to.clone())
            .unwrap_or_else(|| id.clone())
    }

    /// The store's id of a pinned one.
    fn real(&self, pinned: &RunId) -> RunId {
        self.ids
            .iter()
            .find(|(_, to)| to == pinned)
            .map(|(from, _)| from.clone())
            .unwrap()
    }

    /// `text` with every store id replaced by its pinned one.
    fn text(&self, text: &str) -> String {
        self.ids.iter().fold(text.to_string(), |t, (from, to)| {
            t.replace(from.as_str(), to.as_str())
        })
    }

    fn index(&self, id: &RunId) -> u64 {
        self.ids
            .iter()
            .position(|(from, to)| from == id || to == id)
            .unwrap_or(0) as u64
    }

    /// Each run starts 10 minutes after the previous one; its n-th point is n seconds in.
    fn record(&self, r: &mut collm_store::RunRecord) {
        let start = BASE_MS + self.index(&r.id) * 600_000;
        r.id = self.id(&r.id);
        r.created_ms = start;
        r.started_ms = r.started_ms.map(|_| start);
        let last = start + 1000 * (r.steps + 2);
        r.ended_ms = r.ended_ms.map(|_| last);
        r.updated_ms = last;
        for s in &mut r.stages {
            s.started_ms = start + 500;
            s.finished_ms = s.finished_ms.map(|_| last - 500);
        }
        for e in &mut r.best {
            e.at_ms = start + 1000 * e.step + 10;
        }
        for (i, l) in r.log.iter_mut().enumerate() {
            l.at_ms = start + i as u64;
        }
        for a in &mut r.artifacts {
            a.at_ms = start + 1000 * a.step + 20;
        }
    }

    fn message(&self, message: Message) -> Message {
        match message {
            Message::Runs {
                mut records,
                unreadable,
                kept_splits,
            } => {
                for r in &mut records {
                    self.record(r);
                }
                Message::Runs {
                    records,
                    unreadable,
                    kept_splits,
                }
            }
            Message::RunLoaded(mut full) => {
                let start = BASE_MS + self.index(&full.record.id) * 600_000;
                self.record(&mut full.record);
                for p in &mut full.steps {
                    p.at_ms = start + 1000 * p.step;
                }
                for e in &mut full.evals {
                    e.at_ms = start + 1000 * e.step + 10;
                }
                Message::RunLoaded(full)
            }
            Message::RunUpdated(mut record) => {
                self.record(&mut record);
                Message::RunUpdated(record)
            }
            other => other,
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    app: App,
    store: Store,
    pin: Pin,
}

fn fixture(theme: Theme) -> Fixture {
    fixture_of(theme, fixture_store)
}

/// The app over the store `build` makes.
fn fixture_of(theme: Theme, build: fn(&Path) -> Store) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = build(&dir.path().join("store"));
    let pin = Pin::new(&store);
    let mut app = App::new("/fixture/store", theme, BASE_MS);
    app.commands.clear();
    update(&mut app, pin.message(load_runs(&store)));
    // Two and a half minutes after the second run started: it is still running.
    update(
        &mut app,
        Message::Tick {
            now_ms: BASE_MS + 600_000 + 45_000,
        },
    );
    Fixture {
        _dir: dir,
        app,
        store,
        pin,
    }
}

impl Fixture {
    /// Answers the commands the app queued the way the background thread would (store reads).
    fn serve(&mut self) {
        // Store reads are answered; the rest stays queued for the test to look at.
        let (loads, rest): (Vec<Command>, Vec<Command>) =
            self.app.commands.drain(..).partition(|c| {
                matches!(
                    c,
                    Command::LoadRun(_)
                        | Command::Significance { .. }
                        | Command::KeptMetrics { .. }
                )
            });
        self.app.commands = rest;
        for c in loads {
            let message = match c {
                Command::Significance {
                    split,
                    base,
                    others,
                } => {
                    let real = |c: &Vec<Target>| -> Vec<Target> {
                        c.iter()
                            .map(|t| Target {
                                run: self.pin.real(&t.run),
                                part: t.part.clone(),
                            })
                            .collect()
                    };
                    let real_others: Vec<Vec<Target>> = others.iter().map(real).collect();
                    let results = collm_bench::compare::significance(
                        &self.store,
                        &split,
                        &real(&base),
                        &real_others,
                        collm_bench::tui::app::SIGNIFICANCE_RESAMPLES,
                        0,
                    )
                    .into_iter()
                    .zip(others)
                    .map(|(r, pinned)| (pinned, r.map_err(|e| self.pin.text(&e))))
                    .collect();
                    Message::Significance {
                        split,
                        base,
                        results,
                    }
                }
                Command::LoadRun(id) => {
                    self.pin.message(load_run(&self.store, &self.pin.real(&id)))
                }
                Command::KeptMetrics { split, targets } => {
                    let results = targets
                        .into_iter()
                        .map(|pinned| {
                            let real = Target {
                                run: self.pin.real(&pinned.run),
                                part: pinned.part.clone(),
                            };
                            let metrics =
                                collm_bench::compare::kept_metrics(&self.store, &real, &split);
                            (pinned, metrics)
                        })
                        .collect();
                    Message::KeptMetrics { split, results }
                }
                _ => unreachable!("only store reads were taken"),
            };
            update(&mut self.app, message);
        }
    }

    /// The fixture's run still training.
    fn running_run(&self) -> collm_store::RunRecord {
        self.app
            .runs
            .records()
            .iter()
            .find(|r| !r.status.is_terminal())
            .cloned()
            .unwrap()
    }

    /// The users of `valid`, as the background thread lists them.
    fn users(&mut self, users: Vec<u32>) {
        let split = "valid".into();
        update(&mut self.app, Message::Users { split, users });
    }

    fn keys(&mut self, keys: &str) {
        for c in keys.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    fn key(&mut self, code: KeyCode) {
        update(
            &mut self.app,
            Message::Key(KeyEvent::new(code, KeyModifiers::NONE)),
        );
        self.serve();
    }

    fn draw(&self, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| view(&self.app, f)).unwrap();
        terminal
    }

    /// The names of the runs the Runs list shows, in its order.
    fn visible_names(&self) -> Vec<&str> {
        self.app
            .visible_runs()
            .iter()
            .map(|r| r.name.as_str())
            .collect()
    }

    fn screen(&self) -> String {
        self.draw(WIDTH, HEIGHT).backend().to_string()
    }
}

fn color() -> Theme {
    Theme { color: true }
}

#[test]
fn runs_table_lists_status_settings_and_results() {
    let f = fixture(color());
    insta::assert_snapshot!("runs", f.screen());
}

#[test]
fn runs_filter_sort_and_marks() {
    let mut f = fixture(color());
    // Sort by AUC (Status, Id, Experiment, Settings, AUC), highest first.
    f.keys("ssss");
    assert_eq!(f.visible_names(), ["mf-small", "mf-wide", "lightgcn"]);
    f.keys("S");
    assert_eq!(f.visible_names(), ["lightgcn", "mf-wide", "mf-small"]);
    // Filter as typed, kept on Enter.
    f.keys("/mf-");
    assert_eq!(f.app.visible_runs().len(), 2);
    f.key(KeyCode::Enter);
    f.keys(" ");
    assert_eq!(f.app.runs.marked.len(), 1);
    insta::assert_snapshot!("runs_filtered_marked", f.screen());
    f.key(KeyCode::Esc);
    assert_eq!(f.app.visible_runs().len(), 3, "Esc clears the filter");
}

/// Ten or more runs started in one second (a grid) have ids of 16 characters and more
/// (`261206-142153-11`): the id column widens to show them whole (cut at 15, `-11` to `-19` all
/// read `-1`).
#[test]
fn long_run_ids_are_shown_whole() {
    // Not the fixture's: it pins ids to short ones.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let text = experiment("grid", 1e-2, 8);
    let longest = loop {
        let id = store.create_run("grid", &text, "cf").unwrap();
        if id.as_str().len() >= 16 {
            break id;
        }
    };
    let mut app = App::new("/fixture/store", color(), BASE_MS);
    update(&mut app, load_runs(&store));
    let mut terminal = Terminal::new(TestBackend::new(120, 60)).unwrap();
    terminal.draw(|f| view(&app, f)).unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains(&format!("{longest} ")), "{screen}");
}

/// A message longer than the terminal is wide wraps onto up to three bottom lines: a refusal
/// naming a run, a file and what to do was cut at the width and said nowhere else.
#[test]
fn a_long_message_wraps_onto_the_bottom_lines() {
    let mut f = fixture(color());
    let end = "resuming would mix two versions of the data in one result: put the files back";
    let text = format!(
        "run 250601-120001 cannot resume: its dataset /data/ml-1m-collm is not what the run \
         started on (train.tsv changed); {end}"
    );
    f.app.error(text);
    let screen = f.draw(80, 24).backend().to_string();
    let bottom: Vec<&str> = screen.lines().rev().take(3).collect();
    assert!(
        bottom[0].contains("put the files back") && bottom[2].contains("cannot resume"),
        "{screen}"
    );
    // A short one keeps to the one line, the view above it as tall as before.
    f.app.error("no run nosuchrun");
    let screen = f.draw(80, 24).backend().to_string();
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines[23].contains("no run nosuchrun"), "{screen}");
    assert!(!lines[22].contains("no run"), "{screen}");
}

/// Sorting by a metric ranks final results above a stage's best so far, whatever the numbers:
/// a run stopped early with 0.80 on a 32-row sample is not the best run.
#[test]
fn sorting_by_auc_puts_final_results_above_numbers_so_far() {
    let mut f = fixture_of(color(), |dir| {
        let eval = |stage: &str, split: &str, auc: f64| Event::Eval {
            stage: stage.into(),
            step: 4,
            split: split.into(),
            metrics: metrics(auc),
        };
        let started = |stage: &str| Event::StageStarted {
            stage: stage.into(),
            total_steps: Some(8),
        };
        store_of_collm_runs(
            dir,
            vec![
                (
                    "finished low",
                    vec![eval("final", "valid", 0.55), Event::Finished],
                ),
                (
                    "stopped high",
                    vec![started("stage2"), eval("stage2", "valid_small", 0.80)],
                ),
                (
                    "finished high",
                    vec![eval("final", "valid", 0.60), Event::Finished],
                ),
                ("not evaluated", vec![started("stage2")]),
            ],
        )
    });
    // Status, Id, Experiment, Settings, AUC: highest first.
    f.keys("ssss");
    assert_eq!(
        f.visible_names(),
        [
            "finished high",
            "finished low",
            "stopped high",
            "not evaluated"
        ]
    );
}

/// Runs whose AUCs are over different rows (a foundation on its whole split, a CoLLM run on a
/// sample) are no comparison side by side: the title says so; rows of one count say nothing.
#[test]
fn the_title_says_when_aucs_are_over_different_rows() {
    fn eval(rows: usize) -> Event {
        let mut m = metrics(0.6);
        m.all.rows = rows;
        Event::Eval {
            stage: "final".into(),
            step: 4,
            split: "valid".into(),
            metrics: m,
        }
    }
    let f = fixture_of(color(), |dir| {
        store_of_collm_runs(
            dir,
            vec![
                ("whole split", vec![eval(3856), Event::Finished]),
                ("a sample", vec![eval(64), Event::Finished]),
            ],
        )
    });
    let screen = f.draw(160, 24).backend().to_string();
    assert!(screen.contains("AUCs over 64 to 3856 rows"), "{screen}");
    let f = fixture(color());
    let screen = f.draw(160, 24).backend().to_string();
    assert!(!screen.contains("AUCs over"), "{screen}");
}

/// At 80 columns the warm and cold columns give their room to the settings, which tell runs
/// of one experiment apart; sorted by a column not shown, the title says by which.
#[test]
fn a_narrow_runs_table_keeps_the_settings_and_names_a_hidden_sort() {
    let mut f = fixture(color());
    let screen = f.draw(80, 24).backend().to_string();
    assert!(
        screen.contains("Settings") && !screen.contains("Warm"),
        "{screen}"
    );
    assert!(screen.contains("mf d32 lr="), "{screen}");
    // From Id: Experiment, Settings, AUC, UAUC, Warm.
    f.keys("sssss");
    let screen = f.draw(80, 24).backend().to_string();
    assert!(screen.contains("by Warm▼"), "{screen}");
    let wide = f.draw(160, 40).backend().to_string();
    assert!(
        wide.contains("Warm▼") && !wide.contains("by Warm"),
        "{wide}"
    );
}

#[test]
fn run_view_of_a_finished_run() {
    let mut f = fixture(color());
    // Newest first: lightgcn, mf-wide, mf-small.
    f.keys("jj");
    f.key(KeyCode::Enter);
    assert_eq!(f.app.view, collm_bench::tui::keymap::View::Run);
    insta::assert_snapshot!("run_finished", f.screen());
}

/// A run of several stages that ended is shown at its last stage, not as following the
/// latest: nothing more comes.
#[test]
fn an_ended_run_of_several_stages_follows_nothing() {
    let mut f = fixture_of(color(), |dir| {
        let step = |stage: &str, step: u64| Event::Step {
            stage: stage.into(),
            step,
            loss: 0.5,
            lr: 1e-3,
        };
        let started = |stage: &str| Event::StageStarted {
            stage: stage.into(),
            total_steps: Some(8),
        };
        store_of_collm_runs(
            dir,
            vec![(
                "cancelled",
                vec![
                    started("cf"),
                    step("cf", 1),
                    Event::StageFinished { stage: "cf".into() },
                    started("stage1"),
                    step("stage1", 1),
                    Event::Cancelled,
                ],
            )],
        )
    });
    f.key(KeyCode::Enter);
    let screen = f.screen();
    assert!(screen.contains(" stages:"), "{screen}");
    assert!(!screen.contains("following the latest"), "{screen}");
}

/// A zero-shot run (the ICL baseline) trains nothing: its run view says so and leads with its
/// results instead of waiting for a stage.
#[test]
fn run_view_of_a_zero_shot_run_says_no_stage_was_trained() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        let id = store
            .create_run("icl", &experiment("icl", 1e-2, 32), "collm")
            .unwrap();
        let eval = Event::Eval {
            stage: "final".into(),
            step: 0,
            split: "valid".into(),
            metrics: metrics(0.53),
        };
        store.append_event(&id, &eval).unwrap();
        store.append_event(&id, &Event::Finished).unwrap();
        store
    });
    f.key(KeyCode::Enter);
    assert_eq!(f.app.view, collm_bench::tui::keymap::View::Run);
    let screen = f.screen();
    assert!(screen.contains("no stage trained (zero-shot)"), "{screen}");
    assert!(screen.contains("valid AUC 0.5300"), "{screen}");
}

#[test]
fn run_view_follows_live_events() {
    let mut f = fixture(color());
    f.keys("j");
    f.key(KeyCode::Enter);
    let id = f.app.run_view.id.clone().unwrap();
    let before = f.app.details[&id].stages[0].loss.len();
    // Ten more steps arrive, one second apart, then an evaluation.
    for step in 41..=50u64 {
        let event = Event::Step {
            stage: "cf".into(),
            step,
            loss: 0.35,
            lr: 1e-2,
        };
        update(
            &mut f.app,
            Message::RunEvent {
                id: id.clone(),
                event: Box::new(event),
                at_ms: BASE_MS + 600_000 + step * 1000,
            },
        );
    }
    let eval = Event::Eval {
        stage: "cf".into(),
        step: 50,
        split: "valid".into(),
        metrics: metrics(0.65),
    };
    update(
        &mut f.app,
        Message::RunEvent {
            id: id.clone(),
            event: Box::new(eval),
            at_ms: BASE_MS + 600_000 + 50_010,
        },
    );
    let stage = &f.app.details[&id].stages[0];
    assert_eq!(stage.loss.len(), before + 10);
    assert_eq!(stage.step(), 50);
    // 49 steps in 49 s; 50 of 100 left.
    assert_eq!(stage.eta_s().map(|s| s.round()), Some(50.0));
    // A step already loaded from the store is not drawn twice.
    let again = Event::Step {
        stage: "cf".into(),
        step: 50,
        loss: 0.35,
        lr: 1e-2,
    };
    update(
        &mut f.app,
        Message::RunEvent {
            id: id.clone(),
            event: Box::new(again),
            at_ms: BASE_MS + 650_000,
        },
    );
    assert_eq!(f.app.details[&id].stages[0].loss.len(), before + 10);
    update(
        &mut f.app,
        Message::Tick {
            now_ms: BASE_MS + 600_000 + 51_000,
        },
    );
    insta::assert_snapshot!("run_live", f.screen());
}

/// A stage resumed from its resume point after a kill: the curve drops what the killed
/// attempt drew past it, and the steps that come again are drawn in their place.
#[test]
fn a_resumed_stage_s_curve_restarts_from_its_resume_point() {
    let mut f = fixture(color());
    f.keys("j");
    f.key(KeyCode::Enter);
    let id = f.app.run_view.id.clone().unwrap();
    let live = |f: &mut Fixture, event: Event| {
        update(
            &mut f.app,
            Message::RunEvent {
                id: id.clone(),
                event: Box::new(event),
                at_ms: BASE_MS + 700_000,
            },
        )
    };
    assert_eq!(f.app.details[&id].stages[0].step(), 40);
    live(
        &mut f,
        Event::Resumed {
            stage: "cf".into(),
            step: 30,
        },
    );
    let stage = &f.app.details[&id].stages[0];
    assert_eq!(stage.step(), 30);
    assert_eq!(stage.loss.last().map(|p| p.0), Some(30.0));
    assert_eq!(stage.smooth.len(), stage.loss.len());
    assert!(stage.evals.iter().all(|e| e.step <= 30));
    live(
        &mut f,
        Event::Step {
            stage: "cf".into(),
            step: 31,
            loss: 0.3,
            lr: 1e-2,
        },
    );
    assert_eq!(f.app.details[&id].stages[0].loss.last(), Some(&(31.0, 0.3)));
}

/// A run reopened after its stage resumed: the speed, and so the ETA, is measured from the
/// resume on, not over the time the run lay dead (it read 3.5 s/step for 10 steps/s).
#[test]
fn a_reopened_resumed_run_s_speed_leaves_out_the_time_it_lay_dead() {
    use collm_store::{FullRun, RunRecord, StageInfo, StageResume, StepPoint};
    let id = RunId::parse("250601-120000").unwrap();
    let mut record = RunRecord::new(id.clone(), "r", "collm", "name = \"r\"", 0);
    record.stages.push(StageInfo {
        name: "stage1".into(),
        total_steps: Some(100),
        started_ms: 0,
        finished_ms: None,
        resumed: Some(StageResume {
            at_ms: 3_600_000,
            step: 8,
        }),
    });
    // Steps 1-8 a second apart, killed; resumed an hour later at 10 steps/s.
    let at = |step: u64| {
        if step <= 8 {
            step * 1000
        } else {
            3_600_000 + (step - 8) * 100
        }
    };
    let steps = (1..=20)
        .map(|step| StepPoint {
            stage: "stage1".into(),
            step,
            loss: 0.5,
            lr: 1e-3,
            at_ms: at(step),
        })
        .collect();
    let full = FullRun {
        record,
        steps,
        evals: Vec::new(),
    };
    let detail = collm_bench::tui::detail::RunDetail::from_full(&full);
    let stage = &detail.stages[0];
    assert_eq!(stage.step(), 20);
    assert_eq!(
        stage.loss.len(),
        20,
        "the steps before the resume stay drawn"
    );
    let rate = stage.rate().unwrap();
    assert!((rate - 10.0).abs() < 1e-9, "{rate} steps/s");
    assert_eq!(stage.eta_s().map(|s| s.round()), Some(8.0));
}

#[test]
fn metrics_side_by_side_with_deltas() {
    let mut f = fixture(color());
    // Newest first: mark mf-wide and mf-small.
    f.keys("j  ");
    f.keys("3");
    assert_eq!(f.app.chosen_runs().len(), 2);
    // Make the second column (mf-wide) the baseline.
    f.keys("lb");
    insta::assert_snapshot!("metrics", f.screen());
    // Below the table, mf-small against the baseline, from the two runs' kept scores: mf-small's
    // positives score higher, so its AUC is higher, with an interval above zero.
    let asked = f.app.metrics.significance.clone().unwrap();
    let results = asked.results.unwrap();
    let b = results[0].1.as_ref().unwrap();
    let auc = b.all.auc.as_ref().unwrap();
    assert!(auc.low > 0.0 && auc.observed > 0.0, "{auc:?}");
    f.keys("p");
    assert_eq!(f.app.metrics.split, "valid_small");
    // Another split asks again; no run kept scores of it, and the view says so.
    let asked = f.app.metrics.significance.clone().unwrap();
    assert_eq!(asked.split, "valid_small");
    let reason = asked.results.unwrap()[0].1.clone().unwrap_err();
    // The compared run is still running: its scores come once it finishes.
    assert!(
        reason.contains("is running: it keeps per-row scores of `valid_small` once it finishes"),
        "{reason}"
    );
    assert!(f.screen().contains("once it finishes"), "{}", f.screen());
}

/// `o` in the metrics view: a CoLLM run beside its own foundation and first stage (TALLRec),
/// each a column with its final evaluation, measured against the baseline from the kept scores.
#[test]
fn metrics_show_a_collm_run_beside_its_own_parts() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        let id = store.create_run("collm", &tiny_collm(), "collm").unwrap();
        for (part, auc, skill) in [(Some("cf"), 0.61, 0.1), (Some("stage1"), 0.52, 0.0)]
            .into_iter()
            .chain([(None, 0.66, 0.4)])
        {
            evaluated(&store, &id, part, auc, skill);
        }
        store.append_event(&id, &Event::Finished).unwrap();
        store
    });
    f.keys("3");
    assert_eq!(f.app.metrics_columns().len(), 1);
    f.keys("o");
    let columns: Vec<String> = f
        .app
        .metrics_columns()
        .iter()
        .map(|c| c[0].0.to_string())
        .collect();
    assert_eq!(
        columns,
        ["250601-120000:cf", "250601-120000:stage1", "250601-120000"]
    );
    // The highlight stays on the run, now the third column.
    assert_eq!(f.app.metrics.column, 2);
    // The foundation is the baseline (first column); the final model's scores are the most
    // skilled, so its AUC is above the foundation's by more than noise.
    let results = f.app.metrics.significance.clone().unwrap().results.unwrap();
    let (column, b) = &results[1];
    assert_eq!(column[0].to_string(), "250601-120000");
    let auc = b.as_ref().unwrap().all.auc.clone().unwrap();
    assert!(auc.low > 0.0, "{auc:?}");
    let screen = f.screen();
    for shown in ["250601-120000:stage1", "final-stage1", "final-cf", "0.6600"] {
        assert!(screen.contains(shown), "{shown} missing from\n{screen}");
    }
    f.keys("llb");
    assert_eq!(
        f.app.metrics.baseline.as_ref().map(|t| t.to_string()),
        Some("250601-120000".to_string())
    );
    f.keys("o");
    assert_eq!(f.app.metrics_columns().len(), 1, "o again shows runs only");
}

#[test]
fn compare_shows_only_differing_settings_and_overlaid_curves() {
    let mut f = fixture(color());
    f.keys("j j ");
    f.keys("4");
    assert_eq!(f.app.chosen_runs().len(), 2);
    insta::assert_snapshot!("compare", f.screen());
    f.keys("m");
    assert_eq!(f.app.compare.curve, collm_bench::tui::app::Curve::Lr);
}

/// The Prompt view inspected a run while it trained (no P(Yes) then): when it finishes, the
/// inspection is asked again, and the rows say one is on its way meanwhile.
#[test]
fn an_inspection_of_a_training_run_is_asked_again_when_it_finishes() {
    let mut f = fixture(color());
    let running = f.running_run();
    f.keys(&format!("/{}", running.name));
    f.key(KeyCode::Enter);
    f.users(vec![1, 2]);
    f.keys("5");
    f.key(KeyCode::Enter);
    let asked = |f: &Fixture| {
        f.app
            .commands
            .iter()
            .filter(
                |c| matches!(c, Command::Inspect { run: Some(r), uid: 1, .. } if *r == running.id),
            )
            .count()
    };
    assert_eq!(asked(&f), 1, "{:?}", f.app.commands);
    f.app.commands.clear();
    // Another run's end asks nothing; this one's asks again.
    let mut other = f
        .app
        .runs
        .records()
        .iter()
        .find(|r| r.id != running.id)
        .cloned()
        .unwrap();
    other.status = collm_store::RunStatus::Finished;
    update(&mut f.app, Message::RunUpdated(Box::new(other)));
    assert_eq!(asked(&f), 0);
    let mut finished = running.clone();
    finished.status = collm_store::RunStatus::Finished;
    update(&mut f.app, Message::RunUpdated(Box::new(finished.clone())));
    assert_eq!(asked(&f), 1, "{:?}", f.app.commands);
    assert!(f.app.prompt.loading);
    // Finishing while another view shows: asked when the Prompt view is shown again.
    f.app.commands.clear();
    f.keys("2");
    update(&mut f.app, Message::RunUpdated(Box::new(running.clone())));
    update(&mut f.app, Message::RunUpdated(Box::new(finished)));
    assert_eq!(asked(&f), 0, "{:?}", f.app.commands);
    f.keys("5");
    assert_eq!(asked(&f), 1, "{:?}", f.app.commands);
}

/// A view's message shows in that view only, and none under a question; news of the runs
/// shows everywhere.
#[test]
fn a_view_s_message_stays_in_its_view_and_news_goes_everywhere() {
    let mut f = fixture(color());
    f.app.error("only here");
    assert!(f.screen().contains("only here"));
    f.keys("4");
    assert!(!f.screen().contains("only here"));
    f.keys("1");
    assert!(f.screen().contains("only here"));
    // Under the Delete? question the line is the question's.
    f.keys("/mf-small");
    f.key(KeyCode::Enter);
    f.app.error("cancel it first");
    f.keys("D");
    assert!(f.app.confirm.is_some());
    assert!(!f.screen().contains("cancel it first"), "{}", f.screen());
    f.keys("n");
    f.app.announce("run x finished", false);
    for view in "123456".chars() {
        f.keys(&view.to_string());
        assert!(f.screen().contains("run x finished"), "view {view}");
    }
    // The next key in the view ends its message: it answered the key before.
    f.keys("1");
    f.app.error("cancel it first");
    f.keys("s");
    assert!(!f.screen().contains("cancel it first"), "{}", f.screen());
}

/// The Prompt view inspects the run the run list's cursor is on (as Metrics and Compare do),
/// not a run opened earlier.
#[test]
fn the_prompt_view_inspects_the_selected_run() {
    let mut f = fixture(color());
    f.users(vec![1, 2]);
    f.key(KeyCode::Enter);
    let opened = f.app.run_view.id.clone().unwrap();
    f.keys("1j");
    let selected = f.app.selected_run().unwrap().id.clone();
    assert_ne!(opened, selected);
    f.app.commands.clear();
    f.keys("5");
    f.key(KeyCode::Enter);
    let asked = f.app.commands.iter().find_map(|c| match c {
        Command::Inspect { run, .. } => run.clone(),
        _ => None,
    });
    assert_eq!(asked, Some(selected));
}

/// A run's log reads the same live and reopened: a checkpoint saved again (the best weights at
/// a later step) replaces its line, as the store keeps one record of each file.
#[test]
fn a_run_s_log_reads_the_same_live_and_reopened() {
    use collm_bench::tui::detail::RunDetail;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.create_run("r", &tiny_collm(), "collm").unwrap();
    let best = |step| Event::Checkpoint {
        stage: "cf".into(),
        step,
        path: "runs/r/best.safetensors".into(),
        best: true,
    };
    let events = [
        Event::StageStarted {
            stage: "cf".into(),
            total_steps: Some(8),
        },
        best(4),
        best(8),
        Event::StageFinished { stage: "cf".into() },
    ];
    let mut live = RunDetail::new(id.clone());
    for (i, event) in events.iter().enumerate() {
        store.append_event(&id, event).unwrap();
        live.apply(event, i as u64);
    }
    let reopened = RunDetail::from_full(&store.full_run(&id).unwrap());
    let texts = |d: &RunDetail| d.log.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&live), texts(&reopened));
    assert_eq!(
        texts(&live)
            .iter()
            .filter(|t| t.contains("best weights"))
            .count(),
        1
    );
}

/// Two inspections asked in a row: the first answer is overtaken (not shown, still loading),
/// the second is shown.
#[test]
fn an_overtaken_inspection_answer_is_not_shown() {
    use collm_bench::tui::app::Inspection;
    let mut f = fixture(color());
    f.users(vec![1, 2]);
    f.keys("5");
    f.key(KeyCode::Enter);
    f.keys("j");
    f.key(KeyCode::Enter);
    let answer = |uid| Inspection {
        uid,
        split: "valid".into(),
        source: "run x".into(),
        history: Vec::new(),
        prompt: Vec::new(),
        prompt_kind: collm_pipeline::PromptKind::Hybrid,
        run_reads_prompt: true,
        token_count: None,
        rows: Vec::new(),
        user_auc: None,
        note: None,
    };
    update(&mut f.app, Message::Inspected(Ok(Box::new(answer(1)))));
    assert!(f.app.prompt.loading && f.app.prompt.inspection.is_none());
    update(&mut f.app, Message::Inspected(Ok(Box::new(answer(2)))));
    assert!(!f.app.prompt.loading);
    assert_eq!(f.app.prompt.inspection.as_ref().map(|i| i.uid), Some(2));
}

/// The screen at 80x24 and, of it, the Metrics view's differences pane, border to border.
fn differences_pane_at_80x24(f: &mut Fixture) -> (String, String) {
    let screen = f.draw(80, 24).backend().to_string();
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains("Differences from the baseline"))
        .unwrap_or_else(|| panic!("{screen}"));
    let bottom = top + lines[top..].iter().position(|l| l.contains('└')).unwrap();
    let pane = lines[top..=bottom].join("\n");
    (screen, pane)
}

/// On an 80x24 terminal the Metrics view keeps room for the differences under its table (they
/// had none), and says how many metric rows that leaves out.
#[test]
fn metrics_at_80x24_keep_room_for_the_differences() {
    let mut f = fixture(color());
    f.keys("j j 3");
    let (screen, differences) = differences_pane_at_80x24(&mut f);
    assert!(differences.lines().count() >= 8, "{screen}");
    // Its run column holds whole ids; what does not fit ends in `…`.
    assert!(
        differences.contains("│250601-12000") && differences.contains(" all "),
        "{differences}"
    );
    assert!(screen.contains("0 rows above, "), "{screen}");
    update(
        &mut f.app,
        Message::Resize {
            width: 80,
            height: 24,
        },
    );
    // ↓ scrolls the metric rows that do not fit, to the last (the cold rows), and no further.
    let last_row = |screen: &str| screen.contains("cold UAUC users");
    assert!(!last_row(&screen), "{screen}");
    f.keys(&"j".repeat(20));
    let screen = f.draw(80, 24).backend().to_string();
    assert!(
        last_row(&screen) && screen.contains(" below (↑↓)"),
        "{screen}"
    );
    assert!(screen.contains("0 below (↑↓)"), "{screen}");
    f.keys("k");
    let screen = f.draw(80, 24).backend().to_string();
    assert!(screen.contains("1 below (↑↓)"), "{screen}");
    // The differences keep the difference and its p-value where the interval does not fit.
    assert!(screen.contains(" p="), "{screen}");
    // They all show here: PgDn has nothing to scroll.
    f.key(KeyCode::PageDown);
    assert_eq!(f.app.metrics.difference_scroll, 0);
    // At the usual size, all of it.
    assert!(!f.screen().contains("rows above"), "{}", f.screen());
}

/// Unchosen, the Metrics baseline is the first column with a result (a run still training has
/// nothing to measure against); once that run finishes, the view asks for the bootstrap again.
#[test]
fn metrics_baseline_defaults_to_a_column_with_a_result_and_follows_a_run_that_ends() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        let training = store
            .create_run("training", &experiment("training", 1e-2, 32), "cf")
            .unwrap();
        store
            .set_status(&training, collm_store::RunStatus::Running)
            .unwrap();
        for (name, auc) in [("done-a", 0.62), ("done-b", 0.66)] {
            let id = store
                .create_run(name, &experiment(name, 1e-3, 32), "cf")
                .unwrap();
            evaluated(&store, &id, None, auc, 0.3);
            store.append_event(&id, &Event::Finished).unwrap();
        }
        store
    });
    f.keys("   3");
    let columns = f.app.metrics_columns();
    assert_eq!(columns.len(), 3);
    let base = f.app.metrics_base_index(&columns);
    assert_eq!(columns[base][0].1.name, "done-a", "{}", f.screen());
    drop(columns);

    let shown = f
        .app
        .runs
        .records()
        .iter()
        .find(|r| r.name == "training")
        .unwrap();
    let training = f.pin.real(&shown.id.clone());
    evaluated(&f.store, &training, None, 0.70, 0.5);
    f.store.append_event(&training, &Event::Finished).unwrap();
    f.app.commands.clear();
    update(&mut f.app, f.pin.message(load_runs(&f.store)));
    let asked = f.app.commands.iter().find_map(|c| match c {
        Command::Significance { base, .. } => Some(base.clone()),
        _ => None,
    });
    assert!(asked.is_some(), "asked again once the run ended");
}

/// A notice holds the bottom line for a while, then the view's keys come back (a message from
/// one view used to follow the user through every other).
#[test]
fn a_status_message_gives_way_to_the_keys_after_a_while() {
    let mut f = fixture(color());
    f.app.notice("hello there");
    assert!(f.screen().contains("hello there"));
    let later = f.app.now_ms + collm_bench::tui::app::STATUS_SHOWN_MS;
    update(&mut f.app, Message::Tick { now_ms: later });
    let screen = f.screen();
    assert!(
        !screen.contains("hello there") && screen.contains("? help"),
        "{screen}"
    );
}

/// `]` in Compare walks the stages the runs trained and stops at the last; `[` then comes
/// back at once (it used to count on past the last, and `[` had to undo every extra press).
#[test]
fn compare_stage_keys_stay_within_the_runs_stages() {
    let mut f = fixture_of(color(), |dir| {
        let mut events = Vec::new();
        for stage in ["cf", "stage1", "stage2"] {
            events.push(Event::StageStarted {
                stage: stage.into(),
                total_steps: Some(2),
            });
            events.extend((1..=2).map(|step| Event::Step {
                stage: stage.into(),
                step,
                loss: 0.7 / step as f64,
                lr: 1e-3,
            }));
        }
        store_of_collm_runs(dir, vec![("a", events.clone()), ("b", events)])
    });
    f.keys(" j 4");
    assert_eq!(f.app.compared_stages(), ["cf", "stage1", "stage2"]);
    f.keys("]]]]]");
    assert_eq!(f.app.compare.stage, 2);
    assert!(f.screen().contains("stage stage2"), "{}", f.screen());
    f.keys("[");
    assert_eq!(f.app.compare.stage, 1);
    assert!(f.screen().contains("stage stage1"), "{}", f.screen());
}

/// A CoLLM run against an MF run differs in dozens of settings, more than the table's rows:
/// ↑↓ walk them all, and every key is shown whole.
#[test]
fn compare_scrolls_through_more_differing_settings_than_fit() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        store
            .create_run("mf-small", &experiment("mf-small", 1e-2, 32), "cf")
            .unwrap();
        store.create_run("collm", &tiny_collm(), "collm").unwrap();
        store
    });
    f.keys(" j 4");
    let keys: Vec<String> = f
        .app
        .differing_settings()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let shown = HEIGHT as usize / 2 - 3;
    assert!(keys.len() > shown + 5, "{keys:?}");
    let (first, last) = (&keys[0], keys.last().unwrap());
    let screen = f.screen();
    let n = keys.len();
    for expected in [first, &format!("{n} settings differ · at 1 ")] {
        assert!(
            screen.contains(expected.as_str()),
            "{expected} missing from\n{screen}"
        );
    }
    assert!(
        !screen.contains(last.as_str()),
        "{last} shown before scrolling\n{screen}"
    );

    f.key(KeyCode::End);
    let screen = f.screen();
    assert!(
        screen.contains(last.as_str()),
        "{last} missing after End\n{screen}"
    );
    assert!(
        screen.contains(&format!("{n} settings differ · at {n} ")),
        "{screen}"
    );
    assert!(
        !screen.contains(first.as_str()),
        "{first} still shown\n{screen}"
    );

    f.key(KeyCode::Down);
    assert_eq!(
        f.app.compare.setting,
        n - 1,
        "Down stops at the last setting"
    );
    f.key(KeyCode::Home);
    assert_eq!(f.app.compare.setting, 0);
    f.keys("jj");
    assert!(f.screen().contains(&format!("{n} settings differ · at 3 ")));

    let (at, longest) = keys
        .iter()
        .enumerate()
        .max_by_key(|(_, k)| k.len())
        .unwrap();
    f.key(KeyCode::Home);
    for _ in 0..at {
        f.key(KeyCode::Down);
    }
    let screen = f.screen();
    assert!(
        screen.contains(longest.as_str()),
        "{longest} cut in\n{screen}"
    );
}

/// More marked runs than fit across: the metrics and compare tables show a window of columns
/// that follows ←→, each at a width that fits (never asking ratatui's solver to trade minimum
/// widths off, where it can loop forever), and say which columns they show.
#[test]
fn wide_tables_show_a_window_of_columns_that_follows_left_and_right() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        for i in 0..9 {
            let lr = 1e-3 * f64::from(i + 1);
            let id = store
                .create_run(
                    &format!("mf-{i}"),
                    &experiment(&format!("mf-{i}"), lr, 32),
                    "cf",
                )
                .unwrap();
            evaluated(&store, &id, None, 0.6 + 0.01 * f64::from(i), 0.1);
            store.append_event(&id, &Event::Finished).unwrap();
        }
        store
    });
    f.keys(&" ".repeat(9));
    f.keys("3");
    let ids: Vec<String> = f
        .app
        .metrics_columns()
        .iter()
        .map(|c| c[0].0.run.to_string())
        .collect();
    assert_eq!(ids.len(), 9);
    let screen = f.screen();
    assert!(screen.contains("columns 1–4 of 9 (←→)"), "{screen}");
    // A column's header: its run's id and name (the differences below name ids alone).
    let header = |i: usize| format!("{} mf-", ids[i]);
    assert!(
        screen.contains(&header(1)) && !screen.contains(&header(8)),
        "{screen}"
    );
    f.keys(&"l".repeat(8));
    let screen = f.screen();
    assert!(screen.contains("columns 6–9 of 9"), "{screen}");
    assert!(
        screen.contains(&header(8)) && !screen.contains(&header(1)),
        "{screen}"
    );
    // The global first and last keys too.
    f.keys("g");
    assert!(f.screen().contains("columns 1–4 of 9"));
    f.keys("G");
    assert!(f.screen().contains("columns 6–9 of 9"));

    f.keys("4");
    let screen = f.screen();
    let runs: Vec<String> = f
        .app
        .chosen_runs()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    // The settings table's header row (the chart's legend below names every run).
    let header_row = |screen: &str| {
        screen
            .lines()
            .find(|l| l.contains("│setting "))
            .unwrap()
            .to_string()
    };
    assert!(screen.contains("runs: columns 1–"), "{screen}");
    assert!(!header_row(&screen).contains(&runs[8]), "{screen}");
    // A header longer than its column says it was cut.
    assert!(header_row(&screen).contains('…'), "{screen}");
    f.keys(&"l".repeat(8));
    let screen = f.screen();
    assert!(header_row(&screen).contains(&runs[8]), "{screen}");
    assert!(!header_row(&screen).contains(&runs[0]), "{screen}");
    assert!(screen.contains("of 9 (←→)"), "{screen}");
    // [ ] change the chart's stage, not the columns (these runs have no curve: `]` stays).
    f.keys("]");
    assert_eq!(f.app.compare.stage, 0);
    assert!(header_row(&f.screen()).contains(&runs[8]));
}

/// At 80 columns a long key description goes on under itself instead of being cut.
#[test]
fn help_descriptions_wrap_at_80_columns() {
    let mut f = fixture(color());
    update(
        &mut f.app,
        Message::Resize {
            width: 80,
            height: 24,
        },
    );
    f.keys("3?");
    let mut seen = String::new();
    for _ in 0..80 {
        seen.push_str(&f.draw(80, 24).backend().to_string());
        f.key(KeyCode::Down);
    }
    assert!(seen.contains("fit)"), "{seen}");
}

#[test]
fn help_is_generated_from_the_keymap() {
    let mut f = fixture(color());
    f.keys("?");
    let screen = f.screen();
    for b in collm_bench::tui::keymap::BINDINGS
        .iter()
        .filter(|b| b.scope == collm_bench::tui::keymap::Scope::Global)
    {
        assert!(screen.contains(b.help), "help lacks `{}`", b.help);
    }
    insta::assert_snapshot!("help", screen);
    f.key(KeyCode::Esc);
    assert!(f.app.help.is_none());
    // Over the Metrics view, whose own ↑↓ move its columns, ↓ and End still scroll the help.
    f.keys("3?");
    f.key(KeyCode::Down);
    assert_eq!(f.app.help, Some(1));
    f.key(KeyCode::End);
    assert!(f.app.help.unwrap() > 1);
    f.key(KeyCode::Home);
    assert_eq!(f.app.help, Some(0));
}

#[test]
fn quitting_asks_first_while_a_run_is_active() {
    let mut f = fixture(color());
    // The fixture's running run was created by this process.
    assert_eq!(f.app.active_runs().len(), 1);
    f.keys("q");
    assert!(f.app.confirm.is_some() && !f.app.should_quit);
    insta::assert_snapshot!("quit_confirm", f.screen());
    f.keys("n");
    assert!(f.app.confirm.is_none() && !f.app.should_quit);
    f.keys("qy");
    assert!(f.app.should_quit);
}

#[test]
fn too_small_terminal_says_so_and_takes_no_key_but_quit() {
    let mut f = fixture(color());
    let size = |f: &mut Fixture, width, height| {
        update(&mut f.app, Message::Resize { width, height });
    };
    size(&mut f, 60, 20);
    let screen = f.draw(60, 20).backend().to_string();
    assert!(screen.contains("Terminal too small"));
    assert!(screen.contains("60x20 now, 80x24 needed."));
    // Keys that would act on a view no one sees do nothing: `D` asks no hidden question, so a
    // `y` after it deletes nothing; a filter typed blind is not opened.
    f.app.commands.clear();
    f.keys("jDy/x");
    assert!(f.app.confirm.is_none() && f.app.commands.is_empty());
    assert!(f.app.runs.filter_input.is_none());
    // Quitting with a run active asks, and the question is drawn on the small screen.
    f.keys("q");
    assert!(f.app.confirm.is_some() && !f.app.should_quit);
    let screen = f.draw(60, 20).backend().to_string();
    assert!(screen.contains("Quit?"), "{screen}");
    f.keys("n");
    // A `q` typed into a prompt opened before the terminal shrank is not a quit.
    size(&mut f, 80, 24);
    f.keys("/");
    size(&mut f, 60, 20);
    f.keys("q");
    assert!(f.app.confirm.is_none() && !f.app.should_quit);
    size(&mut f, 80, 24);
    f.key(KeyCode::Esc);
    // Large enough again, keys act.
    size(&mut f, 80, 24);
    f.keys("j");
    assert_eq!(f.app.selected_index(), 1);
}

#[test]
fn the_cursor_stays_on_its_run_when_the_rows_reorder_or_change() {
    let mut f = fixture(color());
    let n = f.app.visible_runs().len();
    assert!(n >= 3, "{n}");
    let first = f.app.selected_run().unwrap().id.clone();
    // Reversed, the first row's run is last, and the cursor went with it.
    f.keys("S");
    assert_eq!(f.app.selected_run().unwrap().id, first);
    assert_eq!(f.app.selected_index(), n - 1);
    // Opening the filter and leaving it, or typing one its run still matches, keeps it.
    f.keys("/");
    f.key(KeyCode::Esc);
    assert_eq!(f.app.selected_run().unwrap().id, first);
    f.keys(&format!("/{}", &first.as_str()[..6]));
    f.key(KeyCode::Enter);
    assert_eq!(f.app.selected_run().unwrap().id, first);
    f.key(KeyCode::Esc);
    // The cursor's own run goes: the cursor stays on the row its run was on (last, not the
    // first, where the cursor was put), on the run now there.
    update(
        &mut f.app,
        Message::Deleted {
            id: first.clone(),
            bytes: 0,
        },
    );
    assert_eq!(f.app.selected_index(), n - 2);
    // A row above the cursor goes: the cursor's run moves up a row, the cursor with it.
    f.keys("G");
    let on = f.app.selected_run().unwrap().id.clone();
    let above = f.app.visible_runs()[f.app.selected_index() - 1].id.clone();
    update(
        &mut f.app,
        Message::Deleted {
            id: above,
            bytes: 0,
        },
    );
    assert_eq!(f.app.selected_run().unwrap().id, on);
}

/// Runs that arrive one by one (launched in an empty store) do not move the cursor off the
/// first: it is on a run from the first one on.
#[test]
fn the_cursor_is_on_a_run_from_the_first_run_that_arrives() {
    let f = fixture(color());
    let mut records: Vec<collm_store::RunRecord> = f.app.runs.records().to_vec();
    records.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut app = collm_bench::tui::app::App::new("/fixture/store", color(), BASE_MS);
    update(&mut app, Message::RunUpdated(Box::new(records[0].clone())));
    assert_eq!(app.selected_run().unwrap().id, records[0].id);
    // A newer run sorts above it (newest first): the cursor stays on the first.
    update(&mut app, Message::RunUpdated(Box::new(records[1].clone())));
    assert_eq!(app.selected_index(), 1);
    assert_eq!(app.selected_run().unwrap().id, records[0].id);
}

#[test]
fn no_color_draws_without_colours() {
    let mut f = fixture(Theme { color: false });
    f.keys("j");
    f.key(KeyCode::Enter);
    for view in ["1", "2", "3", "4", "?"] {
        f.keys(view);
        let terminal = f.draw(WIDTH, HEIGHT);
        let buffer = terminal.backend().buffer();
        for cell in buffer.content() {
            assert_eq!(
                cell.fg,
                ratatui::style::Color::Reset,
                "a coloured cell in view {view}: {cell:?}"
            );
            assert_eq!(
                cell.bg,
                ratatui::style::Color::Reset,
                "a coloured cell in view {view}: {cell:?}"
            );
        }
        if view == "?" {
            f.key(KeyCode::Esc);
        }
    }
}

/// A form longer than its box scrolls with the field being edited, and says which show.
#[test]
fn a_long_launch_form_keeps_the_field_in_view() {
    let mut f = fixture(color());
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quick-collm-tiny.toml");
    std::fs::copy(tiny, dir.path().join("tiny.toml")).unwrap();
    update(&mut f.app, experiments_message(dir.path()));
    f.keys("6j");
    f.key(KeyCode::Enter);
    let n = f.app.launch.fields.len();
    let last = f.app.launch.fields[n - 1].key.clone();
    let screen = |f: &Fixture| f.draw(80, 24).backend().to_string();
    assert!(
        !screen(&f).contains(&last),
        "the form is longer than 80x24 shows"
    );
    assert!(screen(&f).contains(" · 1–") && screen(&f).contains(&format!(" of {n} (↑↓)")));
    f.key(KeyCode::End);
    assert_eq!(f.app.launch.field, n - 1);
    let at_end = screen(&f);
    assert!(at_end.contains(&last), "{at_end}");
    assert!(at_end.contains(&format!("–{n} of {n}")), "{at_end}");
    // Text typed past the value's room shows its end, where the cursor is.
    f.key(KeyCode::Home);
    f.key(KeyCode::Enter);
    f.keys(", 1e-2, 1e-3, 1e-4, 1e-5, 2e-6");
    let typing = screen(&f);
    assert!(typing.contains("…") && typing.contains("2e-6▏"), "{typing}");
    // An edit survives highlighting another experiment and coming back.
    f.key(KeyCode::Esc);
    f.key(KeyCode::Enter);
    f.key(KeyCode::Backspace);
    f.keys("8, 16");
    f.key(KeyCode::Enter);
    let edited = f.app.launch.fields.clone();
    assert!(edited.iter().any(|x| !x.grid.is_empty()), "{edited:?}");
    f.key(KeyCode::Left);
    f.keys("kj");
    assert_eq!(f.app.launch.fields, edited);
    assert_eq!(f.app.launch.field, 0);
}

#[test]
fn launch_form_edits_and_launches() {
    let mut f = fixture(color());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("quick.toml"), experiment("quick", 1e-2, 16)).unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "name = \"broken\"\n[model]\nkind = \"mf\"\ndimm = 3\n",
    )
    .unwrap();
    update(&mut f.app, experiments_message(dir.path()));
    f.keys("6");
    let labels: Vec<&str> = f
        .app
        .launch
        .choices
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(
        labels,
        ["mf-default (built in)", "broken.toml", "quick.toml"]
    );
    assert!(
        f.app.launch.choices[1].problem.is_some(),
        "a broken file shows its error"
    );
    // quick.toml, into the form; fields sorted by key: batch_size, lr, max_epochs, patience,
    // seed (several seeds queue replicates).
    f.keys("jj");
    f.key(KeyCode::Enter);
    let keys: Vec<&str> = f.app.launch.fields.iter().map(|x| x.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "training.batch_size",
            "training.lr",
            "training.max_epochs",
            "training.patience",
            "training.seed"
        ]
    );
    f.keys("j");
    f.key(KeyCode::Enter);
    for _ in 0..10 {
        f.key(KeyCode::Backspace);
    }
    f.keys("0.05");
    f.key(KeyCode::Enter);
    insta::assert_snapshot!(
        "launch",
        f.screen().replace(dir.path().to_str().unwrap(), "[dir]")
    );
    f.keys("L");
    let launched = f.app.commands.iter().find_map(|c| match c {
        Command::Launch {
            experiment,
            origin,
            share,
        } => {
            assert!(!share, "a single run trains everything itself");
            Some((experiment.clone(), origin.clone()))
        }
        _ => None,
    });
    let (text, origin) = launched.expect("L queues a launch");
    assert_eq!(origin, dir.path().join("quick.toml"));
    assert!(text.contains("lr = 0.05"), "{text}");
    // The edited text is a valid experiment.
    collm_bench::experiment::Experiment::from_toml(&text, &origin).unwrap();
    // A value of the wrong type is refused, naming the key; the field stays open with what
    // was typed (`L` is typed into it, not a launch of the old value), until Esc drops it.
    f.key(KeyCode::Enter);
    f.keys("x");
    f.key(KeyCode::Enter);
    assert!(f
        .app
        .launch
        .error
        .as_deref()
        .unwrap_or("")
        .contains("training.lr"));
    assert_eq!(f.app.launch.editing.as_deref(), Some("0.05x"));
    f.app.commands.clear();
    f.keys("L");
    assert!(f.app.commands.is_empty());
    assert_eq!(f.app.launch.editing.as_deref(), Some("0.05xL"));
    f.key(KeyCode::Esc);
    assert_eq!(f.app.launch.editing, None);
    assert_eq!(f.app.launch.error, None);

    // Several values in a field: one run per value, named by it, queued behind each other.
    f.key(KeyCode::Enter);
    for _ in 0..10 {
        f.key(KeyCode::Backspace);
    }
    f.keys("0.05, 0.01");
    f.key(KeyCode::Enter);
    assert_eq!(f.app.launch.error, None);
    f.app.commands.clear();
    f.keys("L");
    let grid: Vec<String> = f
        .app
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Launch {
                experiment, share, ..
            } => {
                assert!(share, "the runs of a grid share stages");
                Some(experiment.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(grid.len(), 2);
    for (text, (name, lr)) in grid
        .iter()
        .zip([("quick lr=0.05", "0.05"), ("quick lr=0.01", "0.01")])
    {
        let e = collm_bench::experiment::Experiment::from_toml(text, &origin).unwrap();
        assert_eq!(e.name, name);
        assert_eq!(e.training.lr, lr.parse::<f64>().unwrap());
    }
    assert!(f
        .screen()
        .contains("launching 2 runs of quick (a grid over training.lr)"));
    // The Run view opens on the first, which trains first; the second is announced.
    let queued: Vec<RunId> = ["250601-130000", "250601-130001"]
        .iter()
        .map(|id| RunId::parse(id).unwrap())
        .collect();
    for (id, name) in queued.iter().zip(["quick lr=0.05", "quick lr=0.01"]) {
        update(
            &mut f.app,
            Message::Launched {
                id: id.clone(),
                name: name.into(),
            },
        );
    }
    assert_eq!(f.app.view, collm_bench::tui::keymap::View::Run);
    assert_eq!(f.app.run_view.id.as_ref(), Some(&queued[0]));
    // (Not in this store: nothing to load.)
    f.app.commands.clear();
    assert!(
        f.screen().contains("queued run 250601-130001"),
        "{}",
        f.screen()
    );
    f.keys("6");

    // A value of the right type that the experiment refuses: named as edited, not at a line of
    // the file (which still holds the old value), and nothing is launched.
    f.key(KeyCode::Enter);
    for _ in 0..12 {
        f.key(KeyCode::Backspace);
    }
    f.keys("-1");
    f.key(KeyCode::Enter);
    f.app.commands.clear();
    f.keys("L");
    let error = f.app.launch.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("as edited: ") && error.contains("lr") && error.contains("-1"),
        "{error}"
    );
    assert!(!f
        .app
        .commands
        .iter()
        .any(|c| matches!(c, Command::Launch { .. })));
}

#[test]
fn prompt_inspector_shows_history_prompt_and_rows() {
    let mut f = fixture(color());
    let data = tempfile::tempdir().unwrap();
    let mut inspector = Inspector::default();
    let users = inspector
        .users(&f.store, data.path(), None, "valid")
        .unwrap();
    assert!(!users.is_empty());
    f.users(users.clone());
    f.keys("5");
    f.app.commands.clear();
    // Search by id: the list follows what is typed, Enter asks for the inspection.
    // The first user whose prompt lists a history.
    let uid = *users
        .iter()
        .find(|&&u| {
            !inspector
                .inspect(&f.store, data.path(), None, u, "valid")
                .unwrap()
                .history
                .is_empty()
        })
        .expect("some user has a history");
    f.keys("/");
    f.keys(&uid.to_string());
    f.key(KeyCode::Enter);
    assert_eq!(f.app.prompt.users[f.app.prompt.selected], uid);
    assert!(matches!(f.app.commands.last(), Some(Command::Inspect { uid: u, .. }) if *u == uid));
    let inspection = inspector
        .inspect(&f.store, data.path(), None, uid, "valid")
        .unwrap();
    assert!(
        inspection.rows.iter().all(|r| r.p_yes.is_none()),
        "no run: no scores"
    );
    let slots = inspection
        .prompt
        .iter()
        .filter(|p| matches!(p, collm_bench::tui::app::PromptPart::Slot(_)))
        .count();
    assert_eq!(slots, 2, "the hybrid prompt has a user and an item slot");
    update(&mut f.app, Message::Inspected(Ok(Box::new(inspection))));
    let screen = f.screen();
    assert!(screen.contains("<UserID>") && screen.contains("<TargetItemID>"));
    assert!(screen.contains(&format!("user {uid} · history")));
    insta::assert_snapshot!("prompt", screen);
    // At 80x24 the prompt does not fit its pane: the title says which lines show, and `}`
    // scrolls to its end (the target title and the item's slot), which was out of view.
    let small = f.draw(80, 24).backend().to_string();
    assert!(
        small.contains("lines 1-") && !small.contains("#Answer:"),
        "{small}"
    );
    f.keys(&"}".repeat(40));
    let small = f.draw(80, 24).backend().to_string();
    assert!(
        small.contains("#Answer:") && small.contains("<TargetItemID>"),
        "{small}"
    );
    f.keys(&"{".repeat(40));
    assert_eq!(f.app.prompt.prompt_offset, 0);
    // An MF run reads no prompt: the pane says whose prompt it shows.
    let mf = f
        .store
        .records()
        .unwrap()
        .runs
        .into_iter()
        .find(|r| r.name == "mf-small")
        .unwrap()
        .id;
    let of_mf = inspector
        .inspect(&f.store, data.path(), Some(&mf), uid, "valid")
        .unwrap();
    assert!(!of_mf.run_reads_prompt);
    let of_mf_again = of_mf.clone();
    update(&mut f.app, Message::Inspected(Ok(Box::new(of_mf))));
    let screen = f.draw(160, 40).backend().to_string();
    assert!(
        screen.contains("reads no prompt: it scores its vectors"),
        "{screen}"
    );

    // A user without rows in the split is named as such, and nothing is asked.
    let absent = users.iter().max().unwrap() + 1;
    f.app.commands.clear();
    f.keys(&format!("/{absent}"));
    f.key(KeyCode::Enter);
    let status = f.app.status.clone().unwrap();
    assert!(
        status.error
            && status.text == format!("user {absent} has no rows in valid (p: another split)")
    );
    assert!(f.app.commands.is_empty());
    f.app.status = None;

    // Another run selected, the view shown again: the same user is inspected with that run.
    let before = f.app.prompt.asked.clone().unwrap().0;
    f.keys("1j5");
    let now = f.app.selected_run().map(|r| r.id.clone());
    assert_ne!(now, before, "the fixture has a second run to select");
    assert!(
        matches!(f.app.commands.last(), Some(Command::Inspect { uid: u, run, .. }) if *u == uid && *run == now),
        "{:?}",
        f.app.commands
    );
    // That run cannot answer (its data lacks the user): the last answer, of the other run,
    // is not left beside this run's user list; the pane says why instead.
    assert!(f.app.prompt.inspection.is_some());
    let why = format!("user {uid} has no row in valid");
    update(&mut f.app, Message::Inspected(Err(why.clone())));
    assert!(f.app.prompt.inspection.is_none());
    assert!(f.screen().contains(&why));
    // Another split: the old split's rows are not shown under the new one's name. The splits
    // come in turn, the one stages select on included.
    update(&mut f.app, Message::Inspected(Ok(Box::new(of_mf_again))));
    f.keys("p");
    assert_eq!(f.app.prompt.split, "valid_small");
    assert!(f.app.prompt.inspection.is_none());
    f.keys("ppp");
    assert_eq!(f.app.prompt.split, "valid");
}

/// The names of the runs of each metrics column.
fn column_names(f: &Fixture) -> Vec<Vec<String>> {
    f.app
        .metrics_columns()
        .iter()
        .map(|c| c.iter().map(|(_, r)| r.name.clone()).collect())
        .collect()
}

/// `s` in the metrics view: runs that differ only in their seeds become one column, their
/// metrics' mean, ordered by seed, and the column against the baseline column is the paired
/// bootstrap over users and seeds (seed i with seed i).
#[test]
fn metrics_group_runs_of_one_setting_over_seeds() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        let tiny = tiny_collm();
        // Created out of seed order: the column must put seed 1 first all the same.
        for (name, stage2_lr, seed, auc, skill) in [
            ("tiny seed=2", "1e-2", 2, 0.62, 0.3),
            ("tiny lr=3e-3 seed=1", "3e-3", 1, 0.70, 0.5),
            ("tiny seed=1", "1e-2", 1, 0.60, 0.2),
            ("tiny lr=3e-3 seed=2", "3e-3", 2, 0.74, 0.6),
        ] {
            let experiment = tiny
                .replace("seed = 42", &format!("seed = {seed}"))
                .replace("lr = 1e-2\n", &format!("lr = {stage2_lr}\n"));
            let id = store.create_run(name, &experiment, "collm").unwrap();
            evaluated(&store, &id, None, auc, skill);
            store.append_event(&id, &Event::Finished).unwrap();
        }
        store
    });
    f.keys("    ");
    f.keys("3");
    assert_eq!(f.app.metrics_columns().len(), 4);
    let screen = f.screen();
    assert!(screen.contains("s: group seeds"), "{screen}");
    f.keys("s");
    let names = column_names(&f);
    assert_eq!(
        names,
        [
            ["tiny seed=1", "tiny seed=2"],
            ["tiny lr=3e-3 seed=1", "tiny lr=3e-3 seed=2"]
        ]
    );
    let screen = f.screen();
    for shown in [
        "(mean of 2)",
        "0.6100",
        "0.7200 +0.1100",
        "paired over users and seeds",
    ] {
        assert!(screen.contains(shown), "{shown} missing from\n{screen}");
    }
    // One difference: the two seeds' paired differences, averaged.
    let results = f.app.metrics.significance.clone().unwrap().results.unwrap();
    assert_eq!(results.len(), 1);
    let b = results[0].1.as_ref().unwrap();
    assert_eq!(b.runs, 2);
    let columns = f.app.metrics_columns();
    let real = |c: usize, i: usize| Target {
        run: f.pin.real(&columns[c][i].0.run),
        part: None,
    };
    let per_seed: Vec<f64> = (0..2)
        .map(|i| {
            let single = collm_bench::compare::significance(
                &f.store,
                "valid",
                &[real(0, i)],
                &[vec![real(1, i)]],
                100,
                0,
            );
            single[0]
                .as_ref()
                .unwrap()
                .all
                .auc
                .as_ref()
                .unwrap()
                .observed
        })
        .collect();
    let observed = b.all.auc.as_ref().unwrap().observed;
    assert!((observed - (per_seed[0] + per_seed[1]) / 2.0).abs() < 1e-12);
    f.keys("s");
    assert_eq!(
        f.app.metrics_columns().len(),
        4,
        "s again: a column per run"
    );
}

/// A seed run twice is one seed, not two: the rerun stays out of the column, whose mean would
/// otherwise weigh it double; a column with a member without a result says how many lack one.
#[test]
fn a_column_of_seeds_holds_each_seed_once_and_says_what_it_lacks() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        let tiny = tiny_collm();
        for (name, seed, auc) in [
            ("tiny seed=1", 1, Some(0.60)),
            ("tiny seed=1 again", 1, Some(0.64)),
            ("tiny seed=2", 2, Some(0.62)),
            ("tiny seed=3", 3, None),
        ] {
            let experiment = tiny.replace("seed = 42", &format!("seed = {seed}"));
            let id = store.create_run(name, &experiment, "collm").unwrap();
            if let Some(auc) = auc {
                evaluated(&store, &id, None, auc, 0.3);
                store.append_event(&id, &Event::Finished).unwrap();
            }
        }
        store
    });
    f.keys("    3s");
    let names = column_names(&f);
    assert_eq!(
        names,
        [
            vec!["tiny seed=1", "tiny seed=2", "tiny seed=3"],
            vec!["tiny seed=1 again"]
        ]
    );
    let screen = f.draw(160, 40).backend().to_string();
    assert!(screen.contains("no result (1 of 3)"), "{screen}");
}

/// A split only kept scores hold (`collm eval --data FILE --predictions` records no
/// evaluation): the metrics view offers it and reads each run's metrics from its scores, as
/// `collm compare` does, saying so; two seeds that scored different rows are no column.
#[test]
fn metrics_read_a_split_that_only_kept_scores_hold() {
    let mut f = fixture_of(color(), |dir| {
        let store = Store::open(dir).unwrap();
        let tiny = tiny_collm();
        for (name, seed, rows, skill) in [
            ("tiny seed=1", 1, 240, 0.2),
            ("tiny seed=2", 2, 120, 0.3),
            ("tiny lr=3e-3 seed=1", 1, 240, 0.6),
        ] {
            let experiment = tiny.replace("seed = 42", &format!("seed = {seed}"));
            let experiment = if name.contains("lr=") {
                experiment.replace("lr = 1e-2\n", "lr = 3e-3\n")
            } else {
                experiment
            };
            let id = store.create_run(name, &experiment, "collm").unwrap();
            evaluated(&store, &id, None, 0.6, skill);
            keep_rows(&store, &id, "mine", None, rows, skill);
            store.append_event(&id, &Event::Finished).unwrap();
        }
        store
    });
    assert!(f.app.known_splits().contains(&"mine".to_string()));
    f.keys("   3");
    f.keys("p");
    assert_eq!(f.app.metrics.split, "mine");
    f.serve();
    let screen = f.screen();
    let columns = f.app.metrics_columns();
    for column in &columns {
        let (target, _) = &column[0];
        let real = Target {
            run: f.pin.real(&target.run),
            part: None,
        };
        let kept = collm_bench::compare::kept_metrics(&f.store, &real, "mine").unwrap();
        let auc = format!("{:.4}", kept.all.auc.unwrap());
        assert!(screen.contains(&auc), "{auc} missing from\n{screen}");
    }
    assert!(screen.contains("kept scores"), "{screen}");
    assert!(screen.contains("120"), "a run's own row count: {screen}");
    assert!(!screen.contains("no result"), "{screen}");
    // Grouped over seeds, the two seeds scored different rows: no mean, and why.
    f.keys("s");
    f.serve();
    let screen = f.draw(160, 40).backend().to_string();
    assert!(screen.contains("rows differ"), "{screen}");
    assert!(
        screen.contains("scored different numbers of rows of `mine`"),
        "{screen}"
    );
}

/// A CoLLM run in training shows no number of its parts as its own: while stage 2 has not
/// evaluated, its row has no AUC (not the foundation's); once it has, its best so far, dimmed
/// until the run's results replace it.
#[test]
fn runs_table_shows_an_unfinished_run_s_current_stage_only() {
    let mut f = fixture_of(color(), |dir| {
        let start = |stage: &str| Event::StageStarted {
            stage: stage.into(),
            total_steps: Some(64),
        };
        let eval = |stage: &str, auc: f64| Event::Eval {
            stage: stage.into(),
            step: 32,
            split: "valid".into(),
            metrics: metrics(auc),
        };
        let events = vec![
            start("cf"),
            eval("cf", 0.68),
            start("stage1"),
            eval("stage1", 0.55),
            start("stage2"),
        ];
        store_of_collm_runs(dir, vec![("collm-tiny", events)])
    });
    let screen = f.screen();
    assert!(screen.contains("collm-tiny"), "{screen}");
    for part in ["0.6800", "0.5500"] {
        assert!(!screen.contains(part), "{part} is a part's, in\n{screen}");
    }

    let id = f.store.runs().unwrap().runs[0].id.clone();
    let eval = |stage: &str, auc: f64| Event::Eval {
        stage: stage.into(),
        step: 32,
        // The LLM stages select on `valid_small`, the final evaluation reports `valid`.
        split: if stage == "final" {
            "valid"
        } else {
            "valid_small"
        }
        .into(),
        metrics: metrics(auc),
    };
    let style_of = |f: &Fixture, text: &str| {
        let terminal = f.draw(WIDTH, HEIGHT);
        let buffer = terminal.backend().buffer().clone();
        let width = buffer.area.width as usize;
        let at = buffer
            .content
            .chunks(width)
            .enumerate()
            .find_map(|(y, row)| {
                let line: String = row.iter().map(|c| c.symbol()).collect();
                // A cell per char: the byte offset counts `·` and `→` as 2 and 3.
                line.find(text).map(|x| (line[..x].chars().count(), y))
            })
            .unwrap_or_else(|| panic!("{text} not drawn"));
        buffer.content[at.1 * width + at.0].style()
    };
    f.store.append_event(&id, &eval("stage2", 0.61)).unwrap();
    update(&mut f.app, f.pin.message(load_runs(&f.store)));
    assert_eq!(style_of(&f, "0.6100").fg, color().dim().fg);

    f.store.append_event(&id, &eval("final", 0.70)).unwrap();
    f.store.append_event(&id, &Event::Finished).unwrap();
    update(&mut f.app, f.pin.message(load_runs(&f.store)));
    assert!(!f.screen().contains("0.6100"));
    assert_ne!(style_of(&f, "0.7000").fg, color().dim().fg);
}

/// The Compare view draws a stage's AUC on the split that stage evaluates (the LLM stages
/// select on `valid_small`), and says which.
#[test]
fn compare_draws_a_stage_s_auc_on_the_split_it_evaluates() {
    let mut f = fixture_of(color(), |dir| {
        let events = |auc: f64| {
            let eval = |step| Event::Eval {
                stage: "stage1".into(),
                step,
                split: "valid_small".into(),
                metrics: metrics(auc + step as f64 / 1000.0),
            };
            let started = Event::StageStarted {
                stage: "stage1".into(),
                total_steps: Some(64),
            };
            let step = Event::Step {
                stage: "stage1".into(),
                step: 1,
                loss: 0.7,
                lr: 1e-3,
            };
            vec![started, step, eval(16), eval(32)]
        };
        store_of_collm_runs(
            dir,
            vec![("collm-a", events(0.55)), ("collm-b", events(0.6))],
        )
    });
    f.keys("  4mm");
    f.serve();
    let screen = f.screen();
    assert!(
        screen.contains("AUC on valid_small · stage stage1"),
        "{screen}"
    );
    assert!(!screen.contains("no points for this curve"), "{screen}");
}

/// `D` deletes the selected run after asking (the background thread does it and says so); a
/// run still training must be cancelled first.
#[test]
fn delete_asks_first_then_forgets_the_run() {
    use collm_bench::tui::app::Confirm;
    let mut f = fixture(color());
    let running = f.running_run().name;
    f.keys(&format!("/{running}"));
    f.key(KeyCode::Enter);
    f.keys("D");
    assert!(f.app.confirm.is_none());
    assert!(f.screen().contains("cancel it first"), "{}", f.screen());
    f.key(KeyCode::Esc);

    f.keys("/mf-small");
    f.key(KeyCode::Enter);
    f.keys(" D");
    assert!(matches!(f.app.confirm, Some(Confirm::Delete { .. })));
    let screen = f.screen();
    assert!(
        screen.contains("Delete?") && screen.contains("(mf-small) leaves the store"),
        "{screen}"
    );
    f.keys("n");
    assert!(f.app.confirm.is_none());
    // Enter is "any other key" too: it keeps the run.
    f.keys("D");
    assert!(f.app.confirm.is_some());
    f.app.commands.clear();
    f.key(KeyCode::Enter);
    assert!(f.app.confirm.is_none());
    assert!(f.app.commands.is_empty(), "{:?}", f.app.commands);
    assert!(f.app.visible_runs().iter().any(|r| r.name == "mf-small"));
    let asked = |f: &Fixture| {
        f.app
            .commands
            .iter()
            .any(|c| matches!(c, Command::Delete(_)))
    };
    assert!(!asked(&f), "n keeps the run");
    f.keys("Dy");
    assert!(asked(&f));
    let Some(Command::Delete(id)) = f.app.commands.pop() else {
        panic!("the last command should be the deletion");
    };
    // The background thread's part.
    let real = f.pin.real(&id);
    let gone = collm_bench::cleanup::delete(&f.store, &real).unwrap();
    update(
        &mut f.app,
        Message::Deleted {
            id: id.clone(),
            bytes: gone.bytes,
        },
    );
    assert!(f.app.record(&id).is_none());
    assert!(f.app.runs.marked.is_empty(), "its mark goes too");
    assert!(f.screen().contains(&format!("deleted run {id}")));
    assert!(f.store.run(&real).is_err());
}

/// The views show what `update` read of each run's experiment when its record arrived; a record
/// that arrives again with another experiment (a starting run writes the parts it shares into
/// `[reuse]`) is read again, and a forgotten run's facts go with it.
#[test]
fn a_run_s_settings_are_read_again_when_its_experiment_changes() {
    let mut f = fixture(color());
    let summary = |f: &Fixture, name: &str| {
        let runs = f.app.runs.records();
        let record = runs.iter().find(|r| r.name == name).unwrap();
        f.app.runs.facts(record).summary.clone()
    };
    assert_eq!(
        summary(&f, "mf-small"),
        "mf d32 lr=0.01 bs=2048 ep=20 seed=2023"
    );
    let mut record = f.app.visible_runs()[2].clone();
    assert_eq!(record.name, "mf-small");
    record.experiment = experiment("mf-small", 3e-4, 32);
    update(&mut f.app, Message::RunUpdated(Box::new(record.clone())));
    assert_eq!(
        summary(&f, "mf-small"),
        "mf d32 lr=3e-4 bs=2048 ep=20 seed=2023"
    );
    assert!(f.screen().contains("lr=3e-4"), "{}", f.screen());
    update(
        &mut f.app,
        Message::Deleted {
            id: record.id.clone(),
            bytes: 0,
        },
    );
    assert_eq!(f.visible_names(), ["lightgcn", "mf-wide"]);
}

/// `collm bench tui`: every view drawn over the store's runs, with a time for each.
#[test]
fn the_tui_bench_draws_every_view_over_the_store() {
    let f = fixture(color());
    let times = collm_bench::tui::bench::frame_times(&f.store, 120, 40, 3).unwrap();
    assert_eq!(times.runs, 3);
    // A size the TUI does not draw its views at, or no frame, is no time worth reporting.
    for (width, height, frames) in [(40, 40, 3), (120, 10, 3), (120, 40, 0), (5000, 40, 1)] {
        assert!(collm_bench::tui::bench::frame_times(&f.store, width, height, frames).is_err());
    }
    let labels: Vec<&str> = times.views.iter().map(|v| v.view.as_str()).collect();
    assert_eq!(
        labels,
        [
            "runs",
            "runs, sorted by settings",
            "metrics, all runs, seeds and parts",
            "compare, all runs"
        ]
    );
    assert!(
        times.views.iter().all(|v| v.ms_per_frame > 0.0),
        "{times:?}"
    );
}

/// Runs `exp` to its end on `store` and returns its id and the scores its final evaluation kept
/// of `valid`.
fn run_and_read_kept_scores(
    store: &std::sync::Arc<Store>,
    data: &Path,
    exp: &collm_bench::experiment::Experiment,
) -> (RunId, Vec<Prediction>) {
    use collm_bench::runner::{Runner, RunnerMessage};
    let (runner, rx) = Runner::start(store.clone(), data.to_path_buf());
    let id = runner.submit(exp).unwrap();
    while !matches!(
        rx.recv_timeout(std::time::Duration::from_secs(120))
            .unwrap(),
        RunnerMessage::Idle
    ) {}
    drop(runner);
    let kept = collm_eval::predictions::read_predictions(
        &store.run_dir(&id).join("predictions").join("valid.tsv"),
    )
    .unwrap();
    (id, kept)
}

/// A finished CoLLM run's scores in the inspector come from its final evaluation where it kept
/// them, and at most `LIVE_ROWS` more are scored while the user waits: a user of the embedded
/// data has up to 794 rows in `valid`, and scoring them all on SmolLM2 held the inspector at
/// "inspecting…" for minutes.
#[test]
fn the_inspector_reads_kept_scores_and_scores_only_a_few_rows_live() {
    use collm_bench::tui::inspect::LIVE_ROWS;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = std::sync::Arc::new(Store::open(dir.path().join("store")).unwrap());
    let exp = collm_bench::experiment::Experiment::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/quick-collm-tiny.toml"
    )))
    .unwrap();
    let (id, kept) = run_and_read_kept_scores(&store, &data, &exp);

    // The user with the most rows among those the final evaluation scored.
    let mut inspector = Inspector::default();
    let users = inspector.users(&store, &data, Some(&id), "valid").unwrap();
    let mut uid = 0;
    let mut most = 0;
    for &u in users.iter().filter(|&&u| kept.iter().any(|p| p.uid == u)) {
        // Without a run: rows and prompt only, from the inspector's loaded data set.
        let rows = inspector
            .inspect(&store, &data, None, u, "valid")
            .unwrap()
            .rows
            .len();
        if rows > most {
            (uid, most) = (u, rows);
        }
    }
    let inspection = inspector
        .inspect(&store, &data, Some(&id), uid, "valid")
        .unwrap();
    let rows = &inspection.rows;
    assert!(rows.len() > LIVE_ROWS + 10, "{} rows", rows.len());

    let sigmoid = |logit: f32| 1.0 / (1.0 + (-f64::from(logit)).exp());
    let mut from_evaluation = 0;
    for p in kept.iter().filter(|p| p.uid == uid) {
        let row = rows.iter().find(|r| r.iid == p.iid).unwrap();
        assert_eq!(row.p_yes, Some(sigmoid(p.logit)), "item {}", p.iid);
        from_evaluation += 1;
    }
    let scored = rows.iter().filter(|r| r.p_yes.is_some()).count();
    // LIVE_ROWS rows not kept are scored; the first row as well, for its prompt.
    let scored_now = LIVE_ROWS;
    assert!(rows[0].p_yes.is_some(), "the first row is the prompt shown");
    assert!(rows[..scored_now].iter().all(|r| r.p_yes.is_some()));
    assert_eq!(scored, from_evaluation + scored_now);
    let note = inspection.note.unwrap();
    assert!(
        note.contains(&format!(
            "{from_evaluation} from its evaluation, {scored_now} scored now, {} unscored",
            rows.len() - scored
        )),
        "{note}"
    );
    assert!(inspection.token_count.is_some());
    // The user's AUC over the scored rows, counted pair by pair (ties count a half).
    let (pos, neg): (Vec<_>, Vec<_>) = rows
        .iter()
        .filter_map(|r| r.p_yes.map(|p| (r.label, p)))
        .partition(|(label, _)| *label == 1);
    let wins: f64 = pos
        .iter()
        .flat_map(|(_, a)| neg.iter().map(move |(_, b)| (*a, *b)))
        .map(|(a, b)| {
            if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    let want = wins / (pos.len() * neg.len()) as f64;
    let got = inspection
        .user_auc
        .expect("both labels among the scored rows");
    assert!((got.auc - want).abs() < 1e-9, "{got:?} against {want}");
    assert_eq!(got.rows, scored);
}

/// The inspector lists as many liked titles as the run's prompt does (`[collm.prompt]
/// max_history`): it cut the list at the reference's 10 whatever the run's setting.
#[test]
fn the_inspector_lists_the_history_the_run_reads() {
    use collm_bench::tui::app::PromptPart;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(dir.path().join("store")).unwrap();
    let tiny = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/quick-collm-tiny.toml"
    ))
    .unwrap();
    assert!(!tiny.contains("max_history"));
    let text = format!("{tiny}\n[collm.prompt]\nmax_history = 3\n");
    let id = store.create_run("short-history", &text, "collm").unwrap();
    let mut inspector = Inspector::default();
    let users = inspector.users(&store, &data, Some(&id), "valid").unwrap();
    let long = users
        .iter()
        .map(|&u| inspector.inspect(&store, &data, None, u, "valid").unwrap())
        .find(|i| i.history.len() == 10)
        .expect("a user with ten titles or more");
    let inspection = inspector
        .inspect(&store, &data, Some(&id), long.uid, "valid")
        .unwrap();
    assert_eq!(inspection.history, long.history[7..]);
    let prompt: String = inspection
        .prompt
        .iter()
        .map(|p| match p {
            PromptPart::Text(t) | PromptPart::Slot(t) => t.as_str(),
        })
        .collect();
    for (i, title) in long.history.iter().enumerate() {
        assert_eq!(
            prompt.contains(&format!("\"{title}\"")),
            i >= 7,
            "{title} in {prompt}"
        );
    }
    // A template file gone since the run costs the prompt only: the history and rows stay.
    let gone = dir.path().join("gone.txt");
    let text = format!(
        "{tiny}\n[collm.prompt]\nhybrid_template = \"{}\"\n",
        gone.display()
    );
    let id = store.create_run("gone-template", &text, "collm").unwrap();
    let inspection = inspector
        .inspect(&store, &data, Some(&id), long.uid, "valid")
        .unwrap();
    assert_eq!(inspection.history, long.history);
    assert_eq!(inspection.rows.len(), long.rows.len());
    let shown = format!("{:?}", inspection.prompt);
    assert!(
        shown.contains("the prompt cannot be shown") && shown.contains("gone.txt"),
        "{shown}"
    );
}

/// A run without stages (zero-shot, the ICL baseline) reads the text prompt and keeps the
/// scores of its final evaluation: the inspector shows that prompt, not the hybrid one with ID
/// slots the model never sees, and those scores (it said "recorded no best weights": such a run
/// has none of its own).
#[test]
fn the_inspector_shows_a_zero_shot_runs_text_prompt_and_kept_scores() {
    use collm_bench::tui::app::PromptPart;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = std::sync::Arc::new(Store::open(dir.path().join("store")).unwrap());
    let tiny = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/quick-collm-tiny.toml"
    ))
    .unwrap();
    let (head, rest) = tiny.split_once("[[collm.stages]]").unwrap();
    let evaluation = &rest[rest.find("[evaluation]").unwrap()..];
    let head = head.replace(
        "seed = 42\n",
        "seed = 42\nstages = []\n\n[collm.slots]\nkind = \"none\"\n",
    );
    let exp = collm_bench::experiment::Experiment::from_toml(
        &format!("{head}\n{evaluation}"),
        Path::new("zero-shot.toml"),
    )
    .unwrap();
    let (id, kept) = run_and_read_kept_scores(&store, &data, &exp);
    let mut inspector = Inspector::default();
    let inspection = inspector
        .inspect(&store, &data, Some(&id), kept[0].uid, "valid")
        .unwrap();
    assert_eq!(inspection.prompt_kind, collm_pipeline::PromptKind::Text);
    assert!(inspection.run_reads_prompt);
    assert!(
        inspection
            .prompt
            .iter()
            .all(|p| matches!(p, PromptPart::Text(_))),
        "{:?}",
        inspection.prompt
    );
    let row = inspection
        .rows
        .iter()
        .find(|r| r.iid == kept[0].iid)
        .unwrap();
    let sigmoid = 1.0 / (1.0 + (-f64::from(kept[0].logit)).exp());
    assert_eq!(row.p_yes, Some(sigmoid), "{:?}", inspection.note);
}

/// The inspected user's rows scroll (`[` `]`) and sort by P(Yes) (`s`), and the table's
/// title gives the user's AUC: a user of the embedded data has up to 794 rows, and the table
/// showed the first screenful in the split's order only.
#[test]
fn the_inspected_rows_scroll_and_sort_by_score() {
    use collm_bench::tui::app::{InspectedRow, Inspection, UserAuc};
    let mut f = fixture(color());
    f.keys("5");
    f.users((1..=30).collect());
    let rows: Vec<InspectedRow> = (0..40u32)
        .map(|i| InspectedRow {
            iid: 1000 + i,
            title: format!("title {i}"),
            label: u8::from(i % 3 == 0),
            warm: true,
            // Every fourth row unscored; the others rising with i.
            p_yes: (i % 4 != 1).then(|| f64::from(i) / 40.0),
        })
        .collect();
    let inspection = Inspection {
        uid: 7,
        split: "valid".into(),
        source: "run x".into(),
        history: vec!["a title".into()],
        prompt: Vec::new(),
        prompt_kind: collm_pipeline::PromptKind::Hybrid,
        run_reads_prompt: true,
        token_count: Some(12),
        rows,
        user_auc: Some(UserAuc {
            auc: 0.625,
            rows: 30,
        }),
        note: Some("final model's P(Yes): 0 from its evaluation, 30 scored now".into()),
    };
    update(&mut f.app, Message::Inspected(Ok(Box::new(inspection))));
    let screen = f.screen();
    assert!(screen.contains("40 rows of valid · user AUC 0.6250 on 30 rows · split order (s)"));
    assert!(
        screen.contains("final model's P(Yes): 0 from its evaluation"),
        "{screen}"
    );
    assert!(
        screen.contains("title 0 ") && !screen.contains("title 39"),
        "{screen}"
    );

    f.keys("]]");
    let screen = f.screen();
    assert!(screen.contains("from row 21"), "{screen}");
    assert!(
        screen.contains("1020 ") && !screen.contains("1019 "),
        "{screen}"
    );
    // Paging stops where the last row shows at the bottom of a full pane, and comes back
    // from there at the first key.
    f.keys("]]]]]]]]]]");
    let screen = f.screen();
    let first_shown = |screen: &str| -> usize {
        let at = screen.find("from row ").unwrap() + "from row ".len();
        screen[at..].split(' ').next().unwrap().parse().unwrap()
    };
    let last_page = first_shown(&screen);
    assert!(
        last_page < 40 && screen.contains("title 39 ") && !screen.contains("title 38\n"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("title {} ", last_page - 1)),
        "{screen}"
    );
    assert!(
        !screen.contains(&format!("title {} ", last_page - 2)),
        "{screen}"
    );
    f.keys("[");
    assert_eq!(first_shown(&f.screen()), last_page - 10);
    assert_eq!(f.app.prompt.selected, 0, "the rows moved, not the users");
    // PgDn still pages the users, and leaves the rows where they are.
    f.key(KeyCode::PageDown);
    assert_eq!(f.app.prompt.selected, 10);
    assert_eq!(first_shown(&f.screen()), last_page - 10);

    // `s`: highest P(Yes) first (39/40 = 0.9750), unscored rows last; back at the first row.
    f.keys("s");
    let screen = f.screen();
    assert!(screen.contains("by P(Yes) (s) · from row 1"), "{screen}");
    let first = screen.lines().find(|l| l.contains("   title 3")).unwrap();
    assert!(
        first.contains("title 39") && first.contains("0.9750"),
        "{first}"
    );
}

/// Started outside a checkout, the Launch view says where it looked for experiment files and
/// how to point it elsewhere, instead of listing the built-in default alone without a word.
#[test]
fn launch_says_where_it_looked_for_experiments_when_it_found_none() {
    let mut f = fixture(color());
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("experiments");
    update(&mut f.app, experiments_message(&missing));
    f.keys("6");
    let screen = f.screen();
    assert!(screen.contains("mf-default (built in)"), "{screen}");
    assert!(screen.contains("no *.toml there"), "{screen}");
    assert!(screen.contains("--experiments DIR"), "{screen}");
    assert!(f.app.launch.folder == missing.display().to_string());

    std::fs::create_dir(&missing).unwrap();
    std::fs::write(missing.join("quick.toml"), experiment("quick", 1e-2, 16)).unwrap();
    update(&mut f.app, experiments_message(&missing));
    let screen = f.screen();
    assert!(
        screen.contains("quick.toml") && !screen.contains("no *.toml there"),
        "{screen}"
    );
}

/// A run that ends while the TUI watches says so in the status line, whatever view is open,
/// with its result (or, when it failed, its error, as an error).
#[test]
fn a_run_that_ends_is_announced_with_its_result() {
    let mut f = fixture_of(color(), |dir| {
        let started = || {
            vec![Event::StageStarted {
                stage: "cf".into(),
                total_steps: Some(8),
            }]
        };
        store_of_collm_runs(dir, vec![("ok", started()), ("broken", started())])
    });
    let runs = f.store.runs().unwrap().runs;
    let id_of = |name: &str| runs.iter().find(|r| r.name == name).unwrap().id.clone();
    f.keys("3");
    let ended = |f: &mut Fixture, id: &RunId, events: &[Event]| {
        for event in events {
            f.store.append_event(id, event).unwrap();
        }
        let record = f.store.run(id).unwrap();
        update(
            &mut f.app,
            f.pin.message(Message::RunUpdated(Box::new(record))),
        );
        f.app.status.clone().unwrap()
    };
    // The ids as the app shows them (the fixture pins them).
    let shown = |name: &str| {
        let record = f.store.run(&id_of(name)).unwrap();
        match f.pin.message(Message::RunUpdated(Box::new(record))) {
            Message::RunUpdated(r) => r.id,
            _ => unreachable!(),
        }
    };
    let (ok_shown, broken_shown) = (shown("ok"), shown("broken"));
    let ok = id_of("ok");
    let final_eval = Event::Eval {
        stage: "final".into(),
        step: 8,
        split: "valid".into(),
        metrics: metrics(0.7),
    };
    let status = ended(&mut f, &ok, &[final_eval, Event::Finished]);
    assert_eq!(
        status.text,
        format!("run {ok_shown} (ok) finished: valid AUC 0.7000")
    );
    assert!(!status.error);

    let broken = id_of("broken");
    let failed = Event::Failed {
        error: "the data set has no split `valid`".into(),
    };
    let status = ended(&mut f, &broken, &[failed]);
    assert_eq!(
        status.text,
        format!("run {broken_shown} (broken) failed: the data set has no split `valid`")
    );
    assert!(status.error);
    // Only the end is news: a record of a run that had already ended says nothing again.
    f.app.notice("something else");
    let record = f.store.run(&ok).unwrap();
    update(
        &mut f.app,
        f.pin.message(Message::RunUpdated(Box::new(record))),
    );
    assert_eq!(f.app.status.clone().unwrap().text, "something else");
    assert!(f.screen().contains("something else"));
}

/// A finished run with kept scores and five cancelled ones, which keep none.
fn store_with_cancelled_runs(dir: &Path) -> Store {
    let store = Store::open(dir).unwrap();
    let base = store
        .create_run("mf-base", &experiment("mf-base", 1e-2, 32), "cf")
        .unwrap();
    train(&store, &base, 20, 20, 0.62);
    store.append_event(&base, &Event::Finished).unwrap();
    keep_scores(&store, &base, 0.4);
    for i in 0..5 {
        let name = format!("mf-{i}");
        let id = store
            .create_run(&name, &experiment(&name, 1e-3, 32), "cf")
            .unwrap();
        train(&store, &id, 10, 20, 0.6);
        store.append_event(&id, &Event::Cancelled).unwrap();
    }
    store
}

/// Two finished runs judged on a split by their training evaluations alone (no final one of
/// it): samples each seed drew.
fn store_judged_by_training(dir: &Path) -> Store {
    let store = Store::open(dir).unwrap();
    for (name, auc) in [("seed-1", 0.6), ("seed-2", 0.65)] {
        let id = store
            .create_run(name, &experiment(name, 1e-2, 32), "cf")
            .unwrap();
        train(&store, &id, 10, 10, auc);
        store.append_event(&id, &Event::Finished).unwrap();
    }
    store
}

/// A finished column whose numbers are a training evaluation's is said to be of its seed's
/// sample, so that its differences are not read as of the same rows.
#[test]
fn a_column_judged_by_its_training_sample_is_said_so() {
    let mut f = fixture_of(color(), store_judged_by_training);
    f.keys("  3");
    assert_eq!(f.app.metrics_columns().len(), 2);
    let screen = f.screen();
    assert!(
        screen.contains(": its cf step 10 numbers are of a sample of valid its seed drew"),
        "{screen}"
    );
}

/// On a short terminal, the differences pane's notes (why a column has no interval) scroll
/// with its rows and are counted in its title, instead of being cut off out of reach.
#[test]
fn the_differences_notes_scroll_on_a_short_terminal() {
    let mut f = fixture_of(color(), store_with_cancelled_runs);
    f.keys("      3");
    assert_eq!(f.app.metrics_columns().len(), 6);
    update(
        &mut f.app,
        Message::Resize {
            width: 80,
            height: 24,
        },
    );
    let pane = |f: &mut Fixture| differences_pane_at_80x24(f).1;
    let first = pane(&mut f);
    assert!(
        first.contains("0 above, ") && first.contains(" below (PgUp PgDn)"),
        "{first}"
    );
    // Each cancelled run's note, as the pane shows them one page after another.
    let notes = |pane: &str| -> Vec<String> {
        pane.lines()
            .filter_map(|l| l.split("`collm resume ").nth(1))
            .map(|rest| rest.split('`').next().unwrap().to_string())
            .collect()
    };
    let mut seen = notes(&first);
    assert!(seen.len() < 5, "all fit: {first}");
    for _ in 0..10 {
        f.key(KeyCode::PageDown);
        seen.extend(notes(&pane(&mut f)));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "{seen:?}");
    let last = pane(&mut f);
    assert!(last.contains(" 0 below (PgUp PgDn)"), "{last}");
    // The last line is the last note's, not an empty one scrolled past the end.
    let inside: Vec<&str> = last.lines().filter(|l| l.contains('│')).collect();
    assert!(inside.last().unwrap().contains("finishes it"), "{last}");
}
