//! `mandala publish` (not built yet).

/// Flags of `mandala publish`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala publish` is not built yet")
}
