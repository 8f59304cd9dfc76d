//! What a grid of four costs against one image at the same edge, in time
//! and bytes: `cargo run --release -p mandala-render --example grid_cost
//! [-- SIZE SEEDS FORMAT]` (defaults 1024, 24, png). Each seed is drawn
//! both ways, alternating, and the medians and their ratio are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use mandala_model::{Drawing, Format, GridKind, RenderSpec};

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size: u32 = args.first().map_or(1024, |a| a.parse().expect("SIZE"));
    let seeds: u64 = args.get(1).map_or(24, |a| a.parse().expect("SEEDS"));
    let format: Format = args
        .get(2)
        .map_or(Format::Png, |a| a.parse().expect("FORMAT"));
    let (mut single_ms, mut grid_ms, mut single_kb, mut grid_kb, mut ratios) =
        (vec![], vec![], vec![], vec![], vec![]);
    for seed in 0..seeds {
        let spec = RenderSpec {
            seed: Some(5000 + seed),
            size: Some(size),
            format: Some(format),
            ..Default::default()
        };
        let one = Drawing::resolve(&spec, None).unwrap();
        let grid = Drawing::resolve(&spec, Some(GridKind::Candidates)).unwrap();
        let time = |d: &Drawing| {
            let t = Instant::now();
            let out = mandala_render::draw(d).unwrap();
            (
                t.elapsed().as_secs_f64() * 1000.0,
                out.bytes.len() as f64 / 1024.0,
            )
        };
        let (s_ms, s_kb) = time(&one);
        let (g_ms, g_kb) = time(&grid);
        single_ms.push(s_ms);
        grid_ms.push(g_ms);
        single_kb.push(s_kb);
        grid_kb.push(g_kb);
        ratios.push(g_ms / s_ms);
    }
    let (s, g) = (median(&single_ms), median(&grid_ms));
    println!("{size}px {format:?}, {seeds} seeds, medians:");
    println!("  single: {s:8.1} ms {:8.1} KiB", median(&single_kb));
    println!("  grid:   {g:8.1} ms {:8.1} KiB", median(&grid_kb));
    println!(
        "  grid / single: {:.2}x time (median of per-seed ratios {:.2}x), {:.2}x bytes",
        g / s,
        median(&ratios),
        median(&grid_kb) / median(&single_kb)
    );
}
