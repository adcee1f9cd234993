//! `collm model`: fetch, verify and list LLM backbones.

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn execute(_args: Args, _ctx: &super::Context) -> anyhow::Result<()> {
    anyhow::bail!("`collm model` is not built yet")
}
