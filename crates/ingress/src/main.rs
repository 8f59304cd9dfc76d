use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = mandala_ingress::config::Config::parse();
    anyhow::bail!("mandala-ingress is not built yet (port {})", config.port)
}
