//! Looks for the largest file the renderer can make: renders the busiest
//! specs the bounds allow (12 layers of 32 elements, 64-fold mirrored
//! symmetry, ornaments) in every style, with a 16-colour palette, on an
//! opaque and a transparent background, at `--size` (4096 by default), and
//! prints each one's PNG and WebP sizes and encode times. The largest WebP
//! is the case `tests/formats.rs` checks against Discord's upload limit.
//!
//! `cargo run --release -p mandala-render --example worst_case [-- --size 4096 --seeds 1,2]`

use std::time::Instant;

use mandala_model::{Background, Format, PaletteChoice, RenderSpec, StyleChoice};
use mandala_render::encode;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut size = 4096u32;
    let mut seeds = vec![1u64];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = args.next().ok_or("--size PX")?.parse()?,
            "--seeds" => {
                seeds = args
                    .next()
                    .ok_or("--seeds A,B")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let palette: PaletteChoice =
        "#e63946,#f1c40f,#2a9d8f,#264653,#e9c46a,#f4a261,#8ecae6,#219ebc,#023047,#ffb703,#fb8500,#8338ec,#3a86ff,#ff006e,#06d6a0,#118ab2"
            .parse()?;
    println!("| spec ({size}²) | PNG MiB | PNG encode ms | WebP MiB | WebP encode ms |");
    println!("|---|---|---|---|---|");
    for seed in seeds {
        for style in StyleChoice::NAMES {
            for background in [None, Some(Background::Transparent)] {
                let spec = RenderSpec {
                    seed: Some(seed),
                    size: Some(size),
                    symmetry: Some(64),
                    mirror: Some(true),
                    layers: Some(12),
                    elements: Some(32),
                    ornaments: Some(true),
                    style: Some(style.parse()?),
                    palette: Some(palette.clone()),
                    background,
                    format: Some(Format::Webp),
                    ..RenderSpec::default()
                }
                .resolve()?;
                let scene = mandala_render::scene(&spec)?;
                let pixmap = mandala_render::render(&spec)?;
                let opaque = scene.background.is_some() || encode::is_opaque(&pixmap);
                let t = Instant::now();
                let png = encode::png(&pixmap, &scene.spec_json, opaque)?;
                let png_ms = t.elapsed().as_secs_f64() * 1e3;
                let t = Instant::now();
                let webp = encode::webp(&pixmap, &scene.spec_json, opaque)?;
                let webp_ms = t.elapsed().as_secs_f64() * 1e3;
                let mib = |b: &[u8]| b.len() as f64 / 1_048_576.0;
                println!(
                    "| seed {seed}, {style}, {} | {:.2} | {png_ms:.0} | {:.2} | {webp_ms:.0} |",
                    if background.is_some() {
                        "transparent"
                    } else {
                        "opaque"
                    },
                    mib(&png),
                    mib(&webp),
                );
            }
        }
    }
    Ok(())
}
