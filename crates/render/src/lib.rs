//! The Mandala Bot renderer: a [`ResolvedSpec`] in, a PNG, WebP or SVG out.
//!
//! Pure and single-threaded: no I/O, no async, no global state; the caller
//! (the worker, the CLI) decides concurrency. The same spec and the same
//! [`RENDER_VERSION`] give byte-identical output in every run and process.
//!
//! Layout, in pipeline order:
//! - [`geometry`]: unit-space maths — the seed wedge and its seeded order,
//!   Bézier flattening, closed splines, bounding boxes.
//! - [`scene`]: the "geometry" phase — layers connected in their styles,
//!   mirrored, replicated, ornamented and fitted to the canvas as painted
//!   paths; shared by both back ends.
//! - [`raster`]: the scene onto a `tiny_skia::Pixmap`, painted by vello_cpu.
//! - [`svg`]: the scene as deterministic SVG text.
//! - [`encode`]: PNG (spec in a `mandala:spec` text chunk) and lossless
//!   WebP from the renderer's own VP8L encoder (spec in an XMP chunk).
//! - [`marks`]: where the spec goes in each format, shared by the writers
//!   and the reader; [`embed`]: [`spec_from_image`], reading it back from a
//!   PNG, WebP or SVG.
//! - [`grid`]: four cells rendered alone and composed into one image.

pub mod embed;
pub mod encode;
pub mod geometry;
pub mod grid;
pub mod marks;
pub mod raster;
pub mod scene;
pub mod svg;

use std::time::{Duration, Instant};

pub use embed::{SpecFromImageError, cells_from_image, drawing_from_image, spec_from_image};
pub use mandala_model::RENDER_VERSION;
use mandala_model::{Drawing, Format, ResolvedSpec, SpecError};
pub use marks::SPEC_KEYWORD;
pub use scene::Scene;
pub use tiny_skia::Pixmap;
/// The canvas and codec crates, re-exported so callers compose and
/// decode images with exactly the versions the renderer uses.
pub use {image, tiny_skia};

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("invalid spec: {0}")]
    Spec(#[from] SpecError),
    #[error("cannot allocate a {0}x{0} canvas")]
    Canvas(u32),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// An encoded image and where the time went.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// Building the scene (points, curves, copies, fit).
    pub geometry: Duration,
    /// Painting it (zero for SVG).
    pub raster: Duration,
    pub encode: Duration,
}

/// Builds the scene of a validated spec.
pub fn scene(spec: &ResolvedSpec) -> Result<Scene, RenderError> {
    spec.validate()?;
    Ok(scene::build(spec))
}

/// Renders `spec` to pixels (premultiplied RGBA).
pub fn render(spec: &ResolvedSpec) -> Result<Pixmap, RenderError> {
    raster::rasterize(&scene(spec)?)
}

/// Encodes a scene in `format`: PNG and WebP from its rasterized `pixmap`,
/// SVG from the scene itself (`pixmap` is then not needed).
pub fn encode(
    scene: &Scene,
    pixmap: Option<&Pixmap>,
    format: Format,
) -> Result<Vec<u8>, RenderError> {
    // An opaque background makes every pixel opaque: no need to scan.
    let opaque = |p: &Pixmap| scene.background.is_some() || encode::is_opaque(p);
    match (format, pixmap) {
        (Format::Svg, _) => Ok(svg::write(scene).into_bytes()),
        (Format::Png, Some(p)) => encode::png(p, &scene.spec_json, opaque(p)),
        (Format::Webp, Some(p)) => encode::webp(p, &scene.spec_json, opaque(p)),
        (Format::Png | Format::Webp, None) => {
            encode(scene, Some(&raster::rasterize(scene)?), format)
        }
    }
}

/// Renders and encodes `spec` in `spec.format`, timing each phase.
pub fn render_to_bytes(spec: &ResolvedSpec) -> Result<Rendered, RenderError> {
    let t0 = Instant::now();
    let scene = scene(spec)?;
    let t1 = Instant::now();
    let pixmap = match spec.format {
        Format::Svg => None,
        Format::Png | Format::Webp => Some(raster::rasterize(&scene)?),
    };
    let t2 = Instant::now();
    let bytes = encode(&scene, pixmap.as_ref(), spec.format)?;
    let t3 = Instant::now();
    Ok(Rendered {
        bytes,
        content_type: spec.format.content_type(),
        geometry: t1 - t0,
        raster: t2 - t1,
        encode: t3 - t2,
    })
}

/// Renders and encodes one mandala or a grid, timing each phase.
pub fn draw(drawing: &Drawing) -> Result<Rendered, RenderError> {
    match drawing {
        Drawing::One(spec) => render_to_bytes(spec),
        Drawing::Grid(grid) => grid::render_to_bytes(grid),
    }
}
