//! `mandala interact` (not built yet).

/// Flags of `mandala interact`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala interact` is not built yet")
}
