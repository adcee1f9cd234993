//! The headless command line: argument parsing and dispatch to one module per command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod model;

/// Run, compare and inspect CoLLM experiments.
#[derive(Debug, Parser)]
#[command(name = "collm", version, about)]
pub struct Cli {
    /// The run store folder (default: $COLLM_HOME/store, COLLM_HOME defaulting to ~/.collm).
    #[arg(long, global = true)]
    pub store: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage LLM backbones (pull, list).
    Model(model::Args),
    /// Measure throughput.
    Bench(bench::Args),
}

/// What every command may need besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    pub store_dir: PathBuf,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Context { store_dir: cli.store.clone().unwrap_or_else(crate::paths::store_dir) };
    let result = match cli.command {
        Some(Command::Model(args)) => model::execute(args, &ctx),
        Some(Command::Bench(args)) => bench::execute(args, &ctx),
        None => Err(anyhow::anyhow!("no command given; see `collm --help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
