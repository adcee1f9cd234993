//! `collm delete` (with `collm runs FILTER --ids` to name runs): all runs named are checked before
//! any goes, a live run or the source of an unfinished run's reused part is refused, and without a
//! terminal nothing goes without `--yes`. (A store opened by the CLI has no live run of another
//! process: the store has one writer.)

mod common;

use collm_events::Event;
use collm_store::Store;
use common::{Env, QUICK_COLLM_TINY};

fn stderr_of(env: &Env, args: &[&str]) -> String {
    let out = env.output(args);
    assert!(!out.status.success(), "collm {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn listed(env: &Env) -> Vec<String> {
    env.json(&["runs", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["experiment"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn delete_checks_every_run_first_and_refuses_what_others_need() {
    let env = Env::new();
    let source = env.json(&["run", QUICK_COLLM_TINY, "--json"]);
    let source = source["run_id"].as_str().unwrap().to_string();
    let source_dir = env.store().join("runs").join(&source);
    assert!(source_dir.is_dir());
    {
        let store = Store::open(env.store()).unwrap();
        // Cancelled while taking its stage 1 from the source: resuming it may copy it again.
        let reuse = format!("name = \"dependent\"\n[reuse]\nstage1 = \"{source}\"\n");
        let dependent = store.create_run("dependent", &reuse, "collm").unwrap();
        store.append_event(&dependent, &Event::Cancelled).unwrap();
    }
    let all = ["quick-collm-tiny", "dependent"];
    assert_eq!(listed(&env), all);

    let err = stderr_of(&env, &["delete", &source, "--yes"]);
    // (Named together, the two may go: see the end.)
    assert!(
        err.contains("takes its stage1 from run") && err.contains("dependent"),
        "{err}"
    );
    // The run list's filter (as the TUI's `/`) names runs for other commands.
    let dependent_id = env.ok(&["runs", "Cancelled", "--ids"]).trim().to_string();
    assert_eq!(dependent_id.len(), source.len(), "one id: {dependent_id}");
    assert!(env
        .ok(&["runs", "nothing like it"])
        .contains("matches `nothing like it`"));
    // A setting by its value, whole: the source's collm.seed is 42, not 4.
    assert_eq!(env.ok(&["runs", "seed=42", "--ids"]).trim(), source);
    assert_eq!(env.ok(&["runs", "seed=4", "--ids"]).trim(), "");
    // No terminal, no --yes: nothing goes.
    let err = stderr_of(&env, &["delete", &dependent_id]);
    assert!(err.contains("pass --yes"), "{err}");
    // One bad name among good ones: nothing goes either.
    stderr_of(&env, &["delete", &dependent_id, "991231-000000", "--yes"]);
    assert_eq!(listed(&env), all);

    let out = env.ok(&["delete", &dependent_id, &source, "--yes"]);
    assert!(
        out.contains(&format!("deleted {dependent_id} (dependent)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("deleted {source} (quick-collm-tiny)")),
        "{out}"
    );
    assert!(listed(&env).is_empty());
    assert!(!source_dir.exists(), "the run's folder goes with it");

    // A run training in the process that holds the store (the TUI's) must be cancelled first.
    let store = Store::open(env.store()).unwrap();
    let live = store.create_run("live", "name = \"live\"\n", "cf").unwrap();
    let start = Event::StageStarted {
        stage: "cf".into(),
        total_steps: Some(10),
    };
    store.append_event(&live, &start).unwrap();
    let err = collm_bench::cleanup::delete(&store, &live).unwrap_err();
    assert!(err.contains("is running: cancel it first"), "{err}");
    assert!(store.run(&live).is_ok());
}
