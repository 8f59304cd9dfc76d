//! `mandala register-commands` (not built yet).

/// Flags of `mandala register-commands`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`mandala register-commands` is not built yet")
}
