//! Times each scene item's draw for one seed (a development aid):
//! `cargo run --release -p mandala-render --example profile_items -- SEED`.

#[path = "../benches/support/configs.rs"]
mod configs;

use std::time::Instant;

use mandala_model::RenderSpec;
use mandala_render::scene::{Item, Paint, Scene};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args()
        .nth(1)
        .ok_or("usage: profile_items SEED|rich:SEED|default:SEED")?;
    let spec = match arg.split_once(':') {
        Some(("rich", s)) => configs::rich_1024(s.parse()?),
        Some(("default", s)) => configs::default_1024(s.parse()?),
        _ => RenderSpec {
            seed: Some(arg.parse()?),
            ..RenderSpec::default()
        }
        .resolve()?,
    };
    for l in &spec.layers {
        println!(
            "   r={:.3} {:?} k={} n={}",
            l.radius, l.style, l.symmetry, l.elements
        );
    }
    let scene = mandala_render::scene(&spec)?;
    for (i, item) in scene.items.iter().enumerate() {
        let one = Scene {
            items: vec![item.clone()],
            ..scene.clone()
        };
        let t = Instant::now();
        for _ in 0..5 {
            mandala_render::raster::rasterize(&one)?;
        }
        let segs: usize = item.path.iter().map(|p| p.segs.len()).sum();
        println!(
            "{i:2} {:?} {} parts {segs} segs: {:?}",
            kind(item),
            item.path.len(),
            t.elapsed() / 5
        );
    }
    let empty = Scene {
        items: vec![],
        ..scene.clone()
    };
    let t = Instant::now();
    mandala_render::raster::rasterize(&empty)?;
    println!("empty canvas: {:?}", t.elapsed());
    Ok(())
}

fn kind(item: &Item) -> String {
    match item.paint {
        Paint::Fill { .. } => format!("{:?} fill", item.role),
        Paint::Stroke { width, .. } => format!("{:?} stroke {width}", item.role),
    }
}
