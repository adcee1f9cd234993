//! `collm delete <run>...`: removes runs from the store (record, training curve, weights and
//! kept scores) after listing them and asking; `--yes` skips the question, for scripts.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use collm_store::{RunId, Store};

use super::report::align;
use super::Context;
use crate::cleanup;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runs (ids, or prefixes that name one run each). All are checked before any goes.
    #[arg(required = true)]
    pub runs: Vec<String>,
    /// Delete without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&ctx.store_dir)?;
    // Every name resolved and every run checked first: a typo or a refusal deletes nothing.
    let mut ids: Vec<RunId> = Vec::new();
    for text in &args.runs {
        let id = store.resolve(text)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut rows = vec![["run", "name", "status", "on disk"]
        .map(String::from)
        .to_vec()];
    let mut checked = Vec::with_capacity(ids.len());
    for id in &ids {
        let run = cleanup::check(&store, id, &ids).map_err(anyhow::Error::msg)?;
        rows.push(vec![
            id.to_string(),
            run.record.name.clone(),
            run.record.status.to_string(),
            megabytes(run.bytes),
        ]);
        checked.push(run);
    }
    eprint!("{}", align(&rows));
    if !args.yes && !confirmed(ids.len())? {
        eprintln!("nothing deleted");
        return Ok(ExitCode::SUCCESS);
    }
    // This process holds the store, so nothing has changed since the checks: no second one.
    for (id, gone) in ids.iter().zip(&checked) {
        store.delete_run(id)?;
        println!(
            "deleted {id} ({}), {}",
            gone.record.name,
            megabytes(gone.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; without one, refuses rather than guess.
fn confirmed(count: usize) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("not deleting without asking: pass --yes (stdin is not a terminal)");
    }
    eprint!("delete {count} run(s)? This cannot be undone [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
