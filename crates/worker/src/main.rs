use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = mandala_worker::config::Config::parse();
    anyhow::bail!("mandala-worker is not built yet (port {})", config.port)
}
