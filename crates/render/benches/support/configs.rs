//! The reference's two benchmark configurations as resolved specs, shared
//! by the criterion bench (`benches/render.rs`) and the side-by-side runner
//! (`examples/bench_configs.rs`).
//!
//! RandomMandala's `default` is one layer, order 6, 6 elements, mirrored,
//! a random connecting style; its `rich` is 6 layers with radii
//! 12:10:8:6:4:2, 12 elements, and per layer a random style and a random
//! order from {3,4,5,6,7,12}, mirrored, coloured from viridis. Both at
//! 1024x1024. Choices are drawn from our seeded stream (never another RNG),
//! with the four reference styles only and no ornaments, so the work matches
//! the reference's. Like the reference, line and fill layers are opaque and
//! the Bézier kinds translucent (alpha 0.625).

use mandala_model::stream::Stream;
use mandala_model::{Background, Format, LayerSpec, RENDER_VERSION, ResolvedSpec, Rgb, Style};

const REFERENCE_STYLES: [Style; 4] = [Style::Line, Style::Fill, Style::Bezier, Style::BezierFill];
const REFERENCE_ORDERS: [u32; 6] = [3, 4, 5, 6, 7, 12];
/// Viridis at evenly spaced stops, dark to light.
const VIRIDIS: [u32; 8] = [
    0x440154, 0x46327e, 0x365c8d, 0x277f8e, 0x1fa187, 0x4ac16d, 0xa0da39, 0xfde725,
];

/// The reference honours alpha only for its Bézier kinds.
fn reference_alpha(style: Style) -> f64 {
    match style {
        Style::Bezier | Style::BezierFill => 0.625,
        _ => 1.0,
    }
}

fn base(seed: u64, layers: Vec<LayerSpec>, palette: &str, background: Rgb) -> ResolvedSpec {
    ResolvedSpec {
        version: RENDER_VERSION,
        seed,
        variant: 0,
        size: 1024,
        format: Format::Png,
        symmetry: layers.first().map_or(6, |l| l.symmetry),
        mirror: true,
        palette: palette.into(),
        background: Background::Colour(background),
        ornaments: false,
        layers,
    }
}

/// `default_1024`: one mirrored 6-fold layer of 6 elements, random style.
#[allow(dead_code)]
pub fn default_1024(seed: u64) -> ResolvedSpec {
    let mut s = Stream::new(seed, 0xbe9c);
    let style = *s.pick(&REFERENCE_STYLES);
    let layer = LayerSpec {
        radius: 1.0,
        symmetry: 6,
        mirror: true,
        elements: 6,
        style,
        stroke: Rgb::hex(0x2ec4b6),
        fill: Rgb::hex(0x48cae4),
        alpha: reference_alpha(style),
        seed: s.next_u64(),
    };
    base(seed, vec![layer], "ocean", Rgb::hex(0x0b1d2e))
}

/// `rich_1024`: six mirrored layers, radii 12..2, 12 elements, random
/// styles and orders per layer, viridis colours.
#[allow(dead_code)]
pub fn rich_1024(seed: u64) -> ResolvedSpec {
    let mut s = Stream::new(seed, 0xbe9d);
    let layers = [12.0, 10.0, 8.0, 6.0, 4.0, 2.0]
        .iter()
        .map(|r: &f64| {
            let symmetry = *s.pick(&REFERENCE_ORDERS);
            let style = *s.pick(&REFERENCE_STYLES);
            LayerSpec {
                radius: r / 12.0,
                symmetry,
                mirror: true,
                elements: 12,
                style,
                stroke: Rgb::hex(VIRIDIS[s.below(8) as usize]),
                fill: Rgb::hex(VIRIDIS[s.below(8) as usize]),
                alpha: reference_alpha(style),
                seed: s.next_u64(),
            }
        })
        .collect();
    base(seed, layers, "viridis", Rgb::hex(0x15151e))
}

/// Builds a configuration's spec for one seed.
pub type Make = fn(u64) -> ResolvedSpec;

/// Both configurations by name.
#[allow(dead_code)] // not every includer uses every item
pub const CONFIGS: [(&str, Make); 2] = [("default_1024", default_1024), ("rich_1024", rich_1024)];
