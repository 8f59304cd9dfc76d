//! `mandala gallery` (not built yet).

/// Flags of `mandala gallery`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala gallery` is not built yet")
}
