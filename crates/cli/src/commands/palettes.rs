//! `mandala palettes`: the named palettes, with colour swatches on a terminal.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use mandala_model::Rgb;
use mandala_model::palette::{HARMONY, PALETTES};

/// Flags of `mandala palettes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show colour swatches: auto (when stdout is a terminal), always or never.
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    pub color: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match list(&args) {
        // `mandala palettes | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
        Ok(Err(usage)) => Err(usage.into()),
        Ok(Ok(())) => Ok(()),
    }
}

fn list(args: &Args) -> std::io::Result<Result<(), crate::UsageError>> {
    let swatches = match args.color.as_str() {
        "auto" => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        "always" => true,
        "never" => false,
        other => {
            return Ok(Err(crate::UsageError(format!(
                "--color: {other:?} is not valid (allowed: auto, always, never)"
            ))));
        }
    };
    let mut out = std::io::stdout().lock();
    let width = PALETTES.iter().map(|p| p.name.len()).max().unwrap_or(8);
    for p in PALETTES {
        let mut line = format!("{:width$}  {}  ", p.name, p.background);
        if swatches {
            line += &swatch(p.background, p.colours);
            line += "  ";
        }
        line += p.description;
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "{HARMONY:width$}  {:7}  {}a harmonious palette generated from the seed (OKLCH)",
        "seeded",
        if swatches { "          " } else { "" }
    )?;
    Ok(Ok(()))
}

/// The background as a block with each ink drawn on it, in 24-bit colour.
fn swatch(bg: Rgb, inks: &[Rgb]) -> String {
    let mut s = format!("\x1b[48;2;{};{};{}m ", bg.r, bg.g, bg.b);
    for c in inks.iter().take(8) {
        let _ = write!(s, "\x1b[38;2;{};{};{}m█", c.r, c.g, c.b);
    }
    s += " \x1b[0m";
    s
}
