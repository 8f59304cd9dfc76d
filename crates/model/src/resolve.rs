//! [`ResolvedSpec`]: every choice made, ready to draw.
//!
//! Resolution is a pure function of the [`RenderSpec`]: each open field is
//! filled from the seed through [`Stream`]. Every default is drawn whether or
//! not the user fixed that field, from its own stream, so fixing one option
//! never changes what the seed chooses for the others — a variation that pins
//! the palette keeps the same shapes.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bounds;
use crate::colour::Rgb;
use crate::palette;
use crate::spec::{
    Background, Format, PaletteChoice, RenderSpec, SpecError, Style, StyleChoice, check_range,
};
use crate::stream::Stream;

/// Version of the resolution rules and the renderer's drawing together.
/// It is part of every spec hash, so bump it whenever the same spec would
/// produce different pixels; stored images then get new names.
pub const RENDER_VERSION: u32 = 1;

/// Keeps the streams of a tint apart from every other purpose.
const TINT_PURPOSE: u64 = 0x7469_6e74_0000_0000;

/// Symmetry orders the seed picks from when the user leaves it open.
const PLEASING_ORDERS: [u32; 9] = [5, 6, 7, 8, 9, 10, 12, 14, 16];

/// A complete description of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedSpec {
    pub version: u32,
    pub seed: u64,
    pub variant: u32,
    pub size: u32,
    pub format: Format,
    pub symmetry: u32,
    pub mirror: bool,
    /// The palette's name, `harmony`, or `custom`.
    pub palette: String,
    pub background: Background,
    pub ornaments: bool,
    /// Outermost first.
    pub layers: Vec<LayerSpec>,
}

/// One ring of the mandala.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Outer radius as a fraction of the drawable radius, in (0, 1].
    pub radius: f64,
    pub symmetry: u32,
    pub mirror: bool,
    pub elements: u32,
    pub style: Style,
    pub stroke: Rgb,
    pub fill: Rgb,
    /// Opacity in [0, 1] of the layer's fill, or of its lines for the
    /// stroke-only styles (line, bezier); outlines of filled shapes stay opaque.
    pub alpha: f64,
    /// Seeds the order in which this layer's points are connected.
    pub seed: u64,
}

/// A spec's content hash: the first 128 bits of SHA-256 over its canonical JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecHash(pub [u8; 16]);

impl fmt::Display for SpecHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl ResolvedSpec {
    /// The canonical JSON form: fields in declaration order, no whitespace.
    /// It is what the hash covers and what the PNG's `mandala:spec` chunk holds.
    pub fn canonical_json(&self) -> String {
        // Serialising plain structs of numbers, strings and enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn hash(&self) -> SpecHash {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        SpecHash(out)
    }

    /// The content-addressed storage name, e.g. `renders/v1/<hash>.webp`.
    pub fn object_name(&self) -> String {
        format!(
            "renders/v{}/{}.{}",
            self.version,
            self.hash(),
            self.format.extension()
        )
    }

    /// Checks a spec that arrived whole (a `--spec` file, a PNG chunk).
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.version != RENDER_VERSION {
            return Err(SpecError::Version {
                found: self.version,
                supported: RENDER_VERSION,
            });
        }
        check_range("size", self.size, &bounds::SIZE)?;
        check_range("symmetry", self.symmetry, &bounds::SYMMETRY)?;
        check_range("layers", self.layers.len() as u32, &bounds::LAYERS)?;
        for layer in &self.layers {
            check_range("layer symmetry", layer.symmetry, &bounds::SYMMETRY)?;
            check_range("layer elements", layer.elements, &bounds::ELEMENTS)?;
            if !(layer.radius > 0.0 && layer.radius <= 1.0) {
                return Err(SpecError::OutOfRange {
                    field: "layer radius",
                    value: layer.radius.to_string(),
                    allowed: "(0, 1]".into(),
                });
            }
            if !(0.0..=1.0).contains(&layer.alpha) {
                return Err(SpecError::OutOfRange {
                    field: "layer alpha",
                    value: layer.alpha.to_string(),
                    allowed: "[0, 1]".into(),
                });
            }
        }
        Ok(())
    }

    /// One line for humans: `seed 42 · 8-fold mirrored · 4 layers · ocean · 1024px`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "seed {} · {}-fold{} · {} layer{} · {} · {}px",
            self.seed,
            self.symmetry,
            if self.mirror { " mirrored" } else { "" },
            self.layers.len(),
            if self.layers.len() == 1 { "" } else { "s" },
            self.palette,
            self.size,
        );
        if self.variant != 0 {
            s += " · variation ";
            s += &self.variant.to_string();
        }
        s
    }
}

impl RenderSpec {
    /// Validates and fills every open field from the seed. Deterministic:
    /// the same spec gives the same [`ResolvedSpec`] on every platform.
    pub fn resolve(&self) -> Result<ResolvedSpec, SpecError> {
        self.validate()?;
        let seed = self.seed.ok_or(SpecError::MissingSeed)?;
        let variant = self.variant.unwrap_or(0);
        let drawn = SeedChoices::draw(seed);

        // A tint keeps every shape and moves only colour: the inks shift
        // between layers, a harmony palette is drawn again, and each
        // layer's transparency is nudged.
        let tint = self.tint.unwrap_or(0);
        let mut tint_stream =
            (tint != 0).then(|| Stream::new(seed, TINT_PURPOSE | u64::from(tint)));
        let ink_offset = match tint_stream.as_mut() {
            Some(t) => (drawn.ink_offset + 1 + t.below(15) as usize) % 16,
            None => drawn.ink_offset,
        };

        let symmetry = self.symmetry.unwrap_or(drawn.symmetry);
        let mirror = self.mirror.unwrap_or(drawn.mirror);
        let layer_count = self.layers.unwrap_or(drawn.layer_count);
        let ornaments = self.ornaments.unwrap_or(drawn.ornaments);

        let (palette_name, palette_bg, inks) = self.palette_inks(seed, tint, drawn.palette_pick);
        let background = self.background.unwrap_or(Background::Colour(palette_bg));

        let rings = Rings {
            seed,
            symmetry,
            mirror,
            elements: drawn.elements,
            inks: &inks,
            ink_offset,
            reshaped: variant_layers(seed, variant, layer_count),
        };
        let layers = (0..layer_count)
            .map(|i| rings.layer(self, i, tint_stream.as_mut()))
            .collect();

        Ok(ResolvedSpec {
            version: RENDER_VERSION,
            seed,
            variant,
            size: self.size.unwrap_or(bounds::DEFAULT_SIZE),
            format: self.format.unwrap_or_default(),
            symmetry,
            mirror,
            palette: palette_name,
            background,
            ornaments,
            layers,
        })
    }

    /// The palette's name, its background and its inks: the user's
    /// colours, a named palette, a harmony drawn from the seed (again for
    /// each tint), or the seed's pick of all of those.
    fn palette_inks(&self, seed: u64, tint: u32, palette_pick: u64) -> (String, Rgb, Vec<Rgb>) {
        let mut harmony_stream = match tint {
            0 => Stream::new(seed, 1),
            t => Stream::new(seed, TINT_PURPOSE | 0x8000_0000 | u64::from(t)),
        };
        match &self.palette {
            Some(PaletteChoice::Custom(colours)) => (
                "custom".to_owned(),
                custom_background(colours),
                colours.clone(),
            ),
            Some(PaletteChoice::Named(name)) if !name.eq_ignore_ascii_case(palette::HARMONY) => {
                // validate() has checked the name exists.
                let p = palette::find(name).unwrap_or(&palette::PALETTES[0]);
                (p.name.to_owned(), p.background, p.colours.to_vec())
            }
            Some(PaletteChoice::Named(_)) => {
                let (bg, inks) = palette::harmonious(&mut harmony_stream, 6);
                (palette::HARMONY.to_owned(), bg, inks)
            }
            None => match palette::PALETTES.get(palette_pick as usize) {
                Some(p) => (p.name.to_owned(), p.background, p.colours.to_vec()),
                None => {
                    let (bg, inks) = palette::harmonious(&mut harmony_stream, 6);
                    (palette::HARMONY.to_owned(), bg, inks)
                }
            },
        }
    }
}

/// What the seed chooses for the whole image, drawn in this order from
/// its own stream whether or not the user fixed the field.
struct SeedChoices {
    symmetry: u32,
    mirror: bool,
    layer_count: u32,
    elements: u32,
    /// An index into the named palettes, or past them for a harmony.
    palette_pick: u64,
    ornaments: bool,
    ink_offset: usize,
}

impl SeedChoices {
    fn draw(seed: u64) -> Self {
        let mut global = Stream::new(seed, 0);
        SeedChoices {
            symmetry: *global.pick(&PLEASING_ORDERS),
            mirror: global.chance(0.7),
            layer_count: global.range(3, 6),
            elements: global.range(4, 9),
            palette_pick: global.below(palette::PALETTES.len() as u64 + 2),
            ornaments: global.chance(0.5),
            ink_offset: global.below(16) as usize,
        }
    }
}

/// A dark background under light custom colours, a light one under dark.
fn custom_background(colours: &[Rgb]) -> Rgb {
    if colours.iter().map(|c| c.luminance()).sum::<f64>() / (colours.len() as f64) > 0.4 {
        Rgb::hex(0x101014)
    } else {
        Rgb::hex(0xfaf7f0)
    }
}

/// What every layer shares, settled before the layers are drawn.
struct Rings<'a> {
    seed: u64,
    symmetry: u32,
    mirror: bool,
    /// The seed's element count, each layer's drawn around it.
    elements: u32,
    inks: &'a [Rgb],
    ink_offset: usize,
    /// The layers a variation reshapes, with their new shape seeds.
    reshaped: Vec<(u32, u64)>,
}

impl Rings<'_> {
    /// Layer `i` (0 outermost), from its own stream; a tint nudges its
    /// transparency from the tint's stream, layer after layer.
    fn layer(&self, spec: &RenderSpec, i: u32, tint_stream: Option<&mut Stream>) -> LayerSpec {
        let mut ls = Stream::new(self.seed, 100 + u64::from(i));
        let style = *ls.pick(&Style::ALL);
        let layer_elements = ls.range(
            self.elements
                .saturating_sub(2)
                .max(*bounds::ELEMENTS.start()),
            (self.elements + 2).min(*bounds::ELEMENTS.end()),
        );
        let shape_seed = ls.next_u64();
        let mut alpha = 0.55 + 0.3 * ls.unit();
        if let Some(t) = tint_stream {
            alpha = (alpha + 0.24 * (t.unit() - 0.5)).clamp(0.4, 0.95);
        }
        let style = spec.style.and_then(StyleChoice::fixed).unwrap_or(style);
        let elements = spec.elements.unwrap_or(layer_elements);
        let ink = |k: usize| self.inks[(self.ink_offset + k) % self.inks.len()];
        // Outer layers are large and inner ones small; a geometric
        // ladder keeps inner layers from shrinking to nothing.
        let radius = 0.72_f64.powi(i as i32).max(0.12);
        let radius = (radius * 1e6).round() / 1e6;
        LayerSpec {
            radius,
            symmetry: self.symmetry,
            mirror: self.mirror,
            elements,
            style,
            stroke: ink(i as usize),
            fill: ink(i as usize + 1),
            alpha: (alpha * 1000.0).round() / 1000.0,
            seed: self
                .reshaped
                .iter()
                .find(|(layer, _)| *layer == i)
                .map_or(shape_seed, |(_, s)| *s),
        }
    }
}

/// Which layers a variation reshapes, and their new shape seeds: one or two
/// layers, so the variation is recognisably the same mandala.
fn variant_layers(seed: u64, variant: u32, layers: u32) -> Vec<(u32, u64)> {
    if variant == 0 {
        return Vec::new();
    }
    let mut vs = Stream::new(seed, 0x7661_7269_0000_0000 | u64::from(variant));
    let count = if layers > 2 {
        1 + vs.below(2) as u32
    } else {
        1
    };
    let mut chosen = Vec::new();
    while chosen.len() < count as usize {
        let layer = vs.below(u64::from(layers)) as u32;
        if !chosen.iter().any(|(l, _)| *l == layer) {
            chosen.push((layer, vs.next_u64()));
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seeded(seed: u64) -> RenderSpec {
        RenderSpec {
            seed: Some(seed),
            ..RenderSpec::default()
        }
    }

    #[test]
    fn missing_seed_is_an_error() {
        assert_eq!(
            RenderSpec::default().resolve().unwrap_err(),
            SpecError::MissingSeed
        );
    }

    #[test]
    fn explicit_fields_win() {
        let spec = RenderSpec {
            seed: Some(5),
            symmetry: Some(11),
            mirror: Some(false),
            layers: Some(2),
            elements: Some(3),
            style: Some(StyleChoice::Spline),
            palette: Some(PaletteChoice::Named("ocean".into())),
            background: Some(Background::Transparent),
            size: Some(256),
            format: Some(Format::Svg),
            ..RenderSpec::default()
        };
        let r = spec.resolve().unwrap();
        assert_eq!(
            (r.symmetry, r.mirror, r.layers.len(), r.size),
            (11, false, 2, 256)
        );
        assert!(
            r.layers
                .iter()
                .all(|l| l.style == Style::Spline && l.elements == 3 && l.symmetry == 11)
        );
        assert_eq!(r.palette, "ocean");
        assert_eq!(r.background, Background::Transparent);
        assert_eq!(r.object_name(), format!("renders/v1/{}.svg", r.hash()));
    }

    #[test]
    fn pinning_a_field_keeps_the_others() {
        let free = seeded(77).resolve().unwrap();
        let pinned = RenderSpec {
            palette: Some(PaletteChoice::Named(free.palette.clone())),
            symmetry: Some(free.symmetry),
            ..seeded(77)
        }
        .resolve()
        .unwrap();
        assert_eq!(free, pinned);
    }

    #[test]
    fn variations_keep_palette_symmetry_and_layer_count_but_change_shapes() {
        let base = seeded(9).resolve().unwrap();
        let var = RenderSpec {
            variant: Some(3),
            ..seeded(9)
        }
        .resolve()
        .unwrap();
        assert_eq!(
            (base.palette.clone(), base.symmetry, base.layers.len()),
            (var.palette.clone(), var.symmetry, var.layers.len())
        );
        let changed = base
            .layers
            .iter()
            .zip(&var.layers)
            .filter(|(a, b)| a.seed != b.seed)
            .count();
        assert!((1..=2).contains(&changed), "{changed} layers changed");
        assert_ne!(base.hash(), var.hash());
    }

    #[test]
    fn canonical_json_round_trips_and_validates() {
        let r = seeded(123).resolve().unwrap();
        let back: ResolvedSpec = serde_json::from_str(&r.canonical_json()).unwrap();
        assert_eq!(back, r);
        back.validate().unwrap();
        assert_eq!(back.hash(), r.hash());
    }

    #[test]
    fn wrong_version_is_rejected() {
        let mut r = seeded(1).resolve().unwrap();
        r.version = 99;
        assert_eq!(r.validate().unwrap_err().field(), "version");
    }

    proptest! {
        #[test]
        fn resolve_is_deterministic(seed in any::<u64>(), sym in proptest::option::of(2u32..=64), layers in proptest::option::of(1u32..=12)) {
            let spec = RenderSpec { seed: Some(seed), symmetry: sym, layers, ..RenderSpec::default() };
            let a = spec.resolve().unwrap();
            let b = spec.clone().resolve().unwrap();
            prop_assert_eq!(a.canonical_json(), b.canonical_json());
            prop_assert!(a.validate().is_ok());
            prop_assert!(a.layers.windows(2).all(|w| w[0].radius >= w[1].radius));
        }
    }
}
