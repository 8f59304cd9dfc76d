//! `mandala load` (not built yet).

/// Flags of `mandala load`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala load` is not built yet")
}
