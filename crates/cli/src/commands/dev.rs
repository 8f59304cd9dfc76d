//! `mandala dev` (not built yet).

/// Flags of `mandala dev`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala dev` is not built yet")
}
