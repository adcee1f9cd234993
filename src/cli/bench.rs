//! `collm bench`: throughput measurements of the LLM and the training stages.

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn execute(_args: Args, _ctx: &super::Context) -> anyhow::Result<()> {
    anyhow::bail!("`collm bench` is not built yet")
}
