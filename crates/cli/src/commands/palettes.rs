//! `mandala palettes` (not built yet).

/// Flags of `mandala palettes`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala palettes` is not built yet")
}
