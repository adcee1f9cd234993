//! The headless command line: argument parsing and dispatch to one module per command.
//!
//! Commands that print results take `--json` and then print the one object documented in
//! [`report`] (or, for `runs`, an array), so scripts can rely on it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `eprintln!` for commands that train (`run`, `resume`, `sweep`): a line its reader can no
/// longer take (`collm run ... | head` closed the pipe) is dropped, where `eprintln!` would
/// panic and end the run. Those commands keep SIGPIPE ignored (see [`default_sigpipe`]).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` (with `tell!(text: ...)`, `print!`) on stdout, dropped as [`say!`] drops.
macro_rules! tell {
    (text: $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod bench;
mod compare;
mod delete;
mod ensemble;
mod eval;
mod export;
mod import;
mod model;
mod progress;
mod prompt;
pub mod report;
mod resume;
mod run;
mod runs;
mod show;
mod sweep;

/// Run, compare and inspect CoLLM experiments.
#[derive(Debug, Parser)]
#[command(
    name = "collm",
    version,
    about,
    after_help = "Without a command, collm opens the terminal UI over the store (q quits, ? lists the keys)."
)]
pub struct Cli {
    /// The run store folder (default: $COLLM_HOME/store, COLLM_HOME defaulting to ~/.collm).
    #[arg(long, global = true)]
    pub store: Option<PathBuf>,
    /// The folder the TUI's Launch view lists experiment files from.
    #[arg(long, value_name = "DIR", default_value = "experiments")]
    pub experiments: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment file (progress on stderr, results on stdout).
    Run(run::Args),
    /// Continue an interrupted, cancelled or failed run.
    Resume(resume::Args),
    /// Score a split file with a finished run's best weights.
    Eval(eval::Args),
    /// List the runs of the store.
    Runs(runs::Args),
    /// Show one run.
    Show(show::Args),
    /// Runs side by side on one split: metrics, differences with intervals, differing settings.
    Compare(compare::Args),
    /// Several runs' kept scores combined (mean probability): does one add to another?
    Ensemble(ensemble::Args),
    /// An experiment over a grid of settings and seeds: the best setting picked on one split,
    /// reported on another.
    Sweep(sweep::Args),
    /// Show a CoLLM prompt as the model sees it (tokens, ID slots, P(Yes)).
    Prompt(prompt::Args),
    /// Write a run's evaluations (csv) or full record (json) to stdout.
    Export(export::Args),
    /// Remove runs from the store (record, curves, weights, kept scores), after asking.
    Delete(delete::Args),
    /// Make a raw MovieLens folder (ml-latest, ml-1m, ml-100k) into a dataset in the CoLLM
    /// layout, for an experiment's `[dataset] path`.
    Import(import::Args),
    /// Manage LLM backbones (pull, list).
    Model(model::Args),
    /// Measure throughput.
    Bench(bench::Args),
}

impl Command {
    /// Whether the command trains runs, which must outlive a reader of their progress that
    /// goes away (see [`default_sigpipe`]).
    fn trains(&self) -> bool {
        matches!(
            self,
            Command::Run(_) | Command::Resume(_) | Command::Sweep(_)
        )
    }
}

/// What every command may need besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    pub store_dir: PathBuf,
    /// Whether `--store` named the folder (else it is `$COLLM_HOME/store`): a named folder
    /// without a store is an error even for `collm runs`.
    pub store_named: bool,
}

/// Keeps backtraces out of error messages: candle appends one to every error it builds when
/// `RUST_BACKTRACE` is set, and those messages reach the terminal and the store's run records
/// (a corrupt GGUF gave 188 lines). `RUST_LIB_BACKTRACE=0` turns off only those captured by
/// libraries; a panic still prints its backtrace under `RUST_BACKTRACE`, and an explicit
/// `RUST_LIB_BACKTRACE` is left as set. Runs first, before any thread or backtrace exists.
fn errors_without_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

pub fn main() -> ExitCode {
    errors_without_backtraces();
    let cli = Cli::parse();
    collm_llm::alloc::keep_freed_memory();
    let ctx = Context {
        store_dir: cli.store.clone().unwrap_or_else(crate::paths::store_dir),
        store_named: cli.store.is_some(),
    };
    let result = crate::paths::check_home().and_then(|()| dispatch(cli, &ctx));
    match result {
        Ok(code) => code,
        Err(err) => {
            say!("error: {}", error_text(&err));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line's command (the TUI without one).
fn dispatch(cli: Cli, ctx: &Context) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        // No subcommand: the terminal UI over the store (it installs its own log subscriber).
        None => done(crate::tui::main(&ctx.store_dir, &cli.experiments)),
        Some(command) => {
            if !command.trains() {
                default_sigpipe();
            }
            log_to_stderr();
            match command {
                Command::Run(args) => run::execute(args, ctx),
                Command::Resume(args) => resume::execute(args, ctx),
                Command::Eval(args) => eval::execute(args, ctx),
                Command::Runs(args) => runs::execute(args, ctx),
                Command::Show(args) => show::execute(args, ctx),
                Command::Compare(args) => compare::execute(args, ctx),
                Command::Ensemble(args) => ensemble::execute(args, ctx),
                Command::Sweep(args) => sweep::execute(args, ctx),
                Command::Prompt(args) => prompt::execute(args, ctx),
                Command::Export(args) => export::execute(args, ctx),
                Command::Delete(args) => delete::execute(args, ctx),
                Command::Import(args) => done(import::execute(args)),
                Command::Model(args) => done(model::execute(args, ctx)),
                Command::Bench(args) => done(bench::execute(args, ctx)),
            }
        }
    }
}

/// An error and its causes, `: `-joined as anyhow's `{:#}` does, without a cause that the
/// message before it already ends with: our error types print their source in their own
/// message (`items.tsv: No such file or directory`) and name it as the source too, which
/// `{:#}` would print twice.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if !text.ends_with(&message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&message);
        }
    }
    text
}

/// Warnings and errors on stderr; `COLLM_LOG` (e.g. `info`, `collm_cf=debug`) asks for more.
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COLLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: in a log file (`nohup`, CI) they are noise.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A failed write is dropped, as `say!` drops it. By default the subscriber reports it
        // with `eprintln!`, which panics once stderr's reader is gone: any log line after that
        // panicked whichever thread wrote it, a sled flusher's included, and the run hung.
        .log_internal_errors(false)
        .try_init();
}

/// Headless commands end quietly when their reader goes away (`collm export ... | head`), as
/// Unix tools do, instead of panicking on the failed write: Rust ignores SIGPIPE by default.
/// Not the commands that train: a run outlives whoever reads its progress, writing with
/// [`say!`] and [`tell!`], which drop what cannot be written.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at start-up, before any thread writes.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let missing = std::fs::read("/no/such/file").unwrap_err();
        let shown = missing.to_string();
        // Ours: the path and the cause in the message, the cause named as source too.
        let ours = collm_data::DataError::Io {
            path: "/no/such/file".into(),
            source: missing,
        };
        let text = error_text(&anyhow::Error::new(ours).context("reading the dataset"));
        assert_eq!(text, format!("reading the dataset: /no/such/file: {shown}"));
        // A cause the message does not hold is still shown.
        let chained = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&chained), "outer: inner");
    }
}
