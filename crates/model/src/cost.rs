//! [`Cost`]: how much rendering a spec takes, predicted from the spec alone.
//!
//! The queue estimate needs a job's size before anything is drawn: a 4096²
//! spiral of twelve layers is hundreds of times the work of a 512² single
//! layer. The prediction is a linear model over a few features a renderer
//! spends its time on — pixels to clear and encode, stroke length and fill
//! area in pixels, path segments to build — with coefficients fitted by
//! least squares on renders of random specs
//! (`cargo run --release -p mandala-render --example cost_model`).
//!
//! A [`Cost`] is in *work units*: predicted microseconds on the machine the
//! model was fitted on. The worker measures how many real microseconds a
//! unit takes on its own CPUs (the calibration the queue estimate uses), so
//! the coefficients only have to get the *ratios* between specs right.

use serde::{Deserialize, Serialize};

use crate::resolve::ResolvedSpec;
use crate::spec::{Format, Style};

/// Predicted render effort in work units (≈ µs on the fitting machine).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cost(pub u64);

/// The model's features, by name (see [`ResolvedSpec::cost_features`]).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "png_pixels",
    "webp_pixels",
    "line_stroke_px",
    "line_area_px",
    "fill_stroke_px",
    "fill_area_px",
    "bezier_stroke_px",
    "bezier_area_px",
    "bezier_fill_stroke_px",
    "bezier_fill_area_px",
    "spline_stroke_px",
    "spline_area_px",
    "segments",
    "svg_segments",
    "ornament_px",
];

/// How many features the model has.
pub const FEATURES: usize = 15;

/// What the model looks at, each a sum over the spec's layers: pixels to
/// rasterize and encode per format; per style, the stroke length
/// (copies × elements × radius × size) and the area swept (copies ×
/// radius² × size²), which is what the rasterizer's time follows; path
/// segments built; SVG path text; ornament outlines.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CostFeatures(pub [f64; FEATURES]);

/// The fitted coefficients, in work units per feature unit, in the order of
/// [`FEATURE_NAMES`], then the constant. Fitted on the development machine
/// (AMD EPYC, 2 vCPU) with the `cost_model` example; see docs/BENCHMARKS.md.
/// `webp_pixels` was refitted when WebP moved to the renderer's own VP8L
/// encoder (2.728e-2 in a refit whose PNG coefficient was 3.676e-3, scaled
/// to this table's PNG coefficient): about 7× a PNG pixel.
pub const COEFFICIENTS: [f64; FEATURES + 1] = [
    4.037e-3, 2.996e-2, 7.575e-3, 2.302e-5, 1.539e-2, 1.599e-5, 9.728e-4, 2.987e-5, 3.374e-3,
    2.992e-5, 5.972e-2, 6.300e-5, 5.292e-1, 7.814e-2, 8.212e-2, 9.907e1,
];

impl CostFeatures {
    /// The model's prediction with `coefficients` (the last is the constant).
    pub fn predict(&self, coefficients: &[f64; FEATURES + 1]) -> f64 {
        self.0
            .iter()
            .zip(coefficients)
            .map(|(x, c)| x * c)
            .sum::<f64>()
            + coefficients[FEATURES]
    }
}

fn style_index(style: Style) -> usize {
    match style {
        Style::Line => 2,
        Style::Fill => 4,
        Style::Bezier => 6,
        Style::BezierFill => 8,
        Style::Spline => 10,
    }
}

impl ResolvedSpec {
    /// The features [`Cost`] is predicted from.
    pub fn cost_features(&self) -> CostFeatures {
        let size = f64::from(self.size);
        let pixels = size * size;
        let mut f = [0.0; FEATURES];
        match self.format {
            Format::Png => f[0] = pixels,
            Format::Webp => f[1] = pixels,
            Format::Svg => {}
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let copies = f64::from(layer.symmetry) * if layer.mirror { 2.0 } else { 1.0 };
            let elements = f64::from(layer.elements);
            f[12] += copies * elements;
            if self.format == Format::Svg {
                // Curves are written as many points, straight styles as few.
                let points = if matches!(layer.style, Style::Line | Style::Fill) {
                    1.0
                } else {
                    8.0
                };
                f[13] += copies * elements * points;
                continue;
            }
            let s = style_index(layer.style);
            f[s] += copies * elements * layer.radius * size;
            f[s + 1] += copies * layer.radius * layer.radius * pixels;
            if self.ornaments && i > 0 {
                f[14] += f64::from(layer.symmetry) * layer.radius * size;
            }
        }
        CostFeatures(f)
    }

    /// Predicted render effort: [`COEFFICIENTS`] over [`Self::cost_features`].
    pub fn cost(&self) -> Cost {
        let units = self.cost_features().predict(&COEFFICIENTS);
        Cost(units.max(1.0).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{Format, RenderSpec, StyleChoice};

    fn spec(size: u32, layers: u32, elements: u32) -> RenderSpec {
        RenderSpec {
            seed: Some(7),
            size: Some(size),
            layers: Some(layers),
            elements: Some(elements),
            // The geometry's share, without the (larger) WebP encode.
            format: Some(Format::Png),
            ..Default::default()
        }
    }

    #[test]
    fn bigger_and_busier_specs_cost_more() {
        let cost = |s: RenderSpec| s.resolve().unwrap().cost().0;
        let webp = RenderSpec {
            format: Some(Format::Webp),
            ..spec(1024, 4, 8)
        };
        assert!(cost(webp) > cost(spec(1024, 4, 8)), "WebP encodes slower");
        let small = cost(spec(512, 1, 4));
        let big = cost(spec(4096, 1, 4));
        let busy = cost(spec(4096, 12, 32));
        assert!(big > 20 * small, "4096² {big} vs 512² {small}");
        assert!(
            busy > 2 * big,
            "12 layers × 32 elements {busy} vs one layer {big}"
        );
    }

    #[test]
    fn svg_costs_no_pixels() {
        let png = spec(4096, 6, 16);
        assert!(png.resolve().unwrap().cost_features().0[0] > 0.0);
        let svg = RenderSpec {
            format: Some(Format::Svg),
            style: Some(StyleChoice::Random),
            ..png.clone()
        };
        let f = svg.resolve().unwrap().cost_features().0;
        assert!(f[..12].iter().all(|x| *x == 0.0), "{f:?}");
        assert!(svg.resolve().unwrap().cost() < png.resolve().unwrap().cost());
    }
}
