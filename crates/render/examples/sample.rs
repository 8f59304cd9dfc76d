//! Renders a few seeds to files for eyeballing:
//! `cargo run -p mandala-render --example sample -- OUT_DIR [SEED..] [--size PX] [--style S] [--palette P] [--grid]`.
//! With `--grid` each seed gives the bot's 2×2 grid of four candidates
//! (`grid-SEED.png`), as `/mandala` answers by default.

use mandala_model::{Drawing, GridKind, PaletteChoice, RenderSpec, StyleChoice};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: sample OUT_DIR [SEED..]")?;
    let mut seeds = Vec::new();
    let mut base = RenderSpec::default();
    let mut grid = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => base.size = Some(args.next().ok_or("--size PX")?.parse()?),
            "--style" => base.style = Some(args.next().ok_or("--style S")?.parse::<StyleChoice>()?),
            "--palette" => {
                base.palette = Some(args.next().ok_or("--palette P")?.parse::<PaletteChoice>()?);
            }
            "--layers" => base.layers = Some(args.next().ok_or("--layers N")?.parse()?),
            "--symmetry" => base.symmetry = Some(args.next().ok_or("--symmetry K")?.parse()?),
            "--ornaments" => base.ornaments = Some(true),
            "--no-ornaments" => base.ornaments = Some(false),
            "--grid" => grid = true,
            s => seeds.push(s.parse::<u64>()?),
        }
    }
    std::fs::create_dir_all(&dir)?;
    for seed in seeds {
        if grid {
            let spec = RenderSpec {
                seed: Some(seed),
                ..base.clone()
            };
            let drawing = Drawing::resolve(&spec, Some(GridKind::Candidates))?;
            let r = mandala_render::draw(&drawing)?;
            let path = format!("{dir}/grid-{seed}.{}", drawing.format().extension());
            std::fs::write(&path, &r.bytes)?;
            println!(
                "{path}: {} KiB :: {}",
                r.bytes.len() / 1024,
                drawing.summary()
            );
            continue;
        }
        let spec = RenderSpec {
            seed: Some(seed),
            ..base.clone()
        }
        .resolve()?;
        let r = mandala_render::render_to_bytes(&spec)?;
        let path = format!("{dir}/{seed}.{}", spec.format.extension());
        std::fs::write(&path, &r.bytes)?;
        println!(
            "{path}: {} KiB geom {:?} raster {:?} encode {:?} :: {}",
            r.bytes.len() / 1024,
            r.geometry,
            r.raster,
            r.encode,
            spec.summary()
        );
        for l in &spec.layers {
            println!(
                "   r={:.3} {:?} k={} n={} a={}",
                l.radius, l.style, l.symmetry, l.elements, l.alpha
            );
        }
    }
    Ok(())
}
