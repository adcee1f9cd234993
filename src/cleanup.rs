//! Deleting runs: which runs may go, and what removing one frees. The CLI's `collm delete` and
//! the TUI's `D` both ask here, so they refuse the same things for the same reasons.

use std::path::Path;

use collm_store::{RunId, RunRecord, Store};

/// A run found deletable: its record (for saying what goes) and the bytes its folder holds.
#[derive(Debug, Clone)]
pub struct Deletable {
    pub record: RunRecord,
    pub bytes: u64,
}

/// Whether `id` may be deleted along with the runs `going`, or why not: a queued or running run
/// must be cancelled first, and a run that an unfinished run (queued, running, or stopped; not
/// itself `going`) takes a part from (`[reuse]`) stays, because starting or resuming that run
/// may copy the part again. A finished run that reused from it keeps its own copy.
pub fn check(store: &Store, id: &RunId, going: &[RunId]) -> Result<Deletable, String> {
    let record = store.run(id).map_err(|e| e.to_string())?;
    if !record.status.is_terminal() {
        return Err(format!(
            "run {id} is {}: cancel it first (deleting it would pull its folder from under its \
             training)",
            record.status
        ));
    }
    let list = store.records().map_err(|e| e.to_string())?;
    for other in &list.runs {
        // Queued and running runs count too: a queued one has not copied its part yet, and a
        // running one may be killed and resumed.
        let unfinished = other.status != collm_store::RunStatus::Finished;
        if unfinished && !going.contains(&other.id) {
            if let Some(part) = reused_from(&other.experiment, id) {
                return Err(format!(
                    "run {} ({}, {}) takes its {part} from run {id} and may need it to resume: \
                     delete or finish that run first",
                    other.id, other.name, other.status
                ));
            }
        }
    }
    Ok(Deletable {
        bytes: folder_bytes(&store.run_dir(id)),
        record,
    })
}

/// Deletes the one run `id` after [`check`]: its record, its points and its folder. Returns
/// what went.
pub fn delete(store: &Store, id: &RunId) -> Result<Deletable, String> {
    let deletable = check(store, id, &[])?;
    store.delete_run(id).map_err(|e| e.to_string())?;
    Ok(deletable)
}

/// The part (`cf`, `stage1`, ...) an experiment's `[reuse]` table takes from run `id`, if any.
fn reused_from(experiment: &str, id: &RunId) -> Option<String> {
    let value: toml::Value = toml::from_str(experiment).ok()?;
    value
        .get("reuse")?
        .as_table()?
        .iter()
        .find(|(_, run)| run.as_str() == Some(id.as_str()))
        .map(|(part, _)| part.clone())
}

/// The bytes of every file under `dir` (0 when it does not exist).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => folder_bytes(&entry.path()),
            Ok(_) => entry.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_taken_by_a_queued_or_running_run_stays() {
        use collm_store::RunStatus;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let source = store
            .create_run("source", "name = \"source\"\n", "collm")
            .unwrap();
        store.set_status(&source, RunStatus::Finished).unwrap();
        let reuse = format!("name = \"waiting\"\n[reuse]\ncf = \"{source}\"\n");
        let waiting = store.create_run("waiting", &reuse, "collm").unwrap();
        for status in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Interrupted,
        ] {
            if status != RunStatus::Queued {
                store.set_status(&waiting, status).unwrap();
            }
            let err = check(&store, &source, &[]).unwrap_err();
            assert!(
                err.contains("waiting") && err.contains(&status.to_string()),
                "{err}"
            );
        }
        store.set_status(&waiting, RunStatus::Finished).unwrap();
        assert!(
            check(&store, &source, &[]).is_ok(),
            "a finished run has its own copy"
        );
    }

    #[test]
    fn reuse_tables_name_the_part_taken() {
        let id = RunId::parse("261205-031919").unwrap();
        let experiment =
            "name = \"x\"\n[reuse]\ncf = \"261205-000000\"\nstage1 = \"261205-031919\"\n";
        assert_eq!(reused_from(experiment, &id).as_deref(), Some("stage1"));
        assert_eq!(reused_from("name = \"x\"\n", &id), None);
        assert_eq!(reused_from("not toml [", &id), None);
    }
}
