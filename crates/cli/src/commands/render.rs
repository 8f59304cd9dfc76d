//! `mandala render` (not built yet).

/// Flags of `mandala render`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala render` is not built yet")
}
