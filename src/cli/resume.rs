//! `collm resume <run>`: continues an interrupted, cancelled or failed run under the same id
//! (finished parts skipped, the interrupted stage from its last resume point: a collaborative
//! model's last finished epoch, an LLM stage's last evaluation or the step it was cancelled
//! at), and follows it like `collm run`.

use std::process::ExitCode;
use std::sync::Arc;

use collm_store::Store;

use super::Context;
use crate::experiment::Placement;
use crate::runner::Runner;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (its id, or a prefix that names one run).
    pub run: String,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub placement: Placement,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Arc::new(Store::open_existing(&ctx.store_dir)?);
    let id = store.resolve(&args.run)?;
    let (runner, messages) = Runner::start(store.clone(), crate::paths::data_dir());
    runner.resume_placed(&id, args.placement)?;
    super::run::follow(store, runner, messages, id, args.json)
}
