//! The grid: four candidates in one image, to choose from.
//!
//! A grid is a base spec (with its seed) and a [`GridKind`]: four new
//! candidates drawn from the seed, or four variations of one mandala. Its
//! cells are full specs at the grid's requested size, so `U n` renders cell
//! n alone as it is; in the grid image each cell is drawn at a little under
//! half the edge, with a thin gutter between. Everything is a pure function
//! of the base spec, so a grid's buttons carry only the base and the cell
//! number.

use serde::{Deserialize, Serialize};

use crate::colour::Rgb;
use crate::resolve::{RENDER_VERSION, ResolvedSpec, SpecHash};
use crate::spec::{Background, Format, RenderSpec, SpecError};
use crate::stream::Stream;

/// Cells in a grid.
pub const CELLS: usize = 4;

/// The smallest edge a grid is drawn at; below it a request gets one image.
pub const MIN_SIZE: u32 = 256;

/// Behind and between the cells, over an opaque background.
pub const GUTTER_COLOUR: Rgb = Rgb::hex(0x1e1f22);

/// What the four cells are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridKind {
    /// Four new mandalas from the base's seed and options.
    Candidates,
    /// Four variations of the base mandala (each reshapes a layer or two).
    Variations,
}

/// The gutter around and between the cells, in pixels.
pub fn gutter(size: u32) -> u32 {
    (size / 128).clamp(2, 32)
}

/// The edge each cell is drawn at in a grid of edge `size`.
pub fn cell_edge(size: u32) -> u32 {
    size.saturating_sub(3 * gutter(size)) / 2
}

/// A number in 1..=u32::MAX drawn from `seed` for `purpose` and `i`.
fn draw(seed: u64, purpose: u64, i: usize) -> u64 {
    Stream::new(seed, purpose | i as u64).next_u64()
}

const CANDIDATE_PURPOSE: u64 = 0x6772_6964_0000_0000;
const VARIATION_PURPOSE: u64 = 0x6772_7661_0000_0000;

/// The four cells, each a full spec at the base's size. The base must have
/// its seed.
pub fn cells(base: &RenderSpec, kind: GridKind) -> Result<[RenderSpec; CELLS], SpecError> {
    let seed = base.seed.ok_or(SpecError::MissingSeed)?;
    let cell = |i: usize| {
        let mut c = base.clone();
        match kind {
            GridKind::Candidates => {
                // Typeable back into the slash command: at most 2^53.
                c.seed = Some(draw(seed, CANDIDATE_PURPOSE, i) >> 11);
                c.variant = None;
                c.tint = None;
            }
            GridKind::Variations => {
                let salt = u64::from(base.variant.unwrap_or(0)) << 8;
                let v = (draw(seed, VARIATION_PURPOSE | salt, i) % u64::from(u32::MAX)) as u32;
                c.variant = Some(v.max(1));
            }
        }
        c
    };
    Ok([cell(0), cell(1), cell(2), cell(3)])
}

/// A grid with every choice made, ready to draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedGrid {
    pub version: u32,
    pub kind: GridKind,
    /// The whole image's edge.
    pub size: u32,
    pub gutter: u32,
    pub format: Format,
    /// Behind the gutters.
    pub background: Background,
    /// The cells as drawn, at [`cell_edge`].
    pub cells: Vec<ResolvedSpec>,
}

impl RenderSpec {
    /// Resolves the grid of `kind` on this base spec. Grids are raster
    /// images of at least [`MIN_SIZE`].
    pub fn resolve_grid(&self, kind: GridKind) -> Result<ResolvedGrid, SpecError> {
        self.validate()?;
        let size = self.size.unwrap_or(crate::bounds::DEFAULT_SIZE);
        if size < MIN_SIZE {
            return Err(SpecError::OutOfRange {
                field: "size",
                value: size.to_string(),
                allowed: format!("{MIN_SIZE}..={} for a grid", crate::bounds::SIZE.end()),
            });
        }
        let format = self.format.unwrap_or_default();
        if format == Format::Svg {
            return Err(SpecError::Invalid {
                field: "format",
                value: "svg".into(),
                allowed: "png or webp for a grid".into(),
            });
        }
        let edge = cell_edge(size);
        let cells = cells(self, kind)?
            .into_iter()
            .map(|mut c| {
                c.size = Some(edge);
                c.format = Some(format);
                c.resolve()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let background = match self.background {
            Some(Background::Transparent) => Background::Transparent,
            _ => Background::Colour(GUTTER_COLOUR),
        };
        Ok(ResolvedGrid {
            version: RENDER_VERSION,
            kind,
            size,
            gutter: gutter(size),
            format,
            background,
            cells,
        })
    }
}

impl ResolvedGrid {
    /// Fields in declaration order, no whitespace: what the hash covers and
    /// what the image's spec chunk holds.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn hash(&self) -> SpecHash {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.canonical_json().as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        SpecHash(out)
    }

    /// `renders/v1/grid-<hash>.png`.
    pub fn object_name(&self) -> String {
        format!(
            "renders/v{}/grid-{}.{}",
            self.version,
            self.hash(),
            self.format.extension()
        )
    }

    /// Where cell `i` (0–3, reading order) sits: its top-left corner.
    pub fn origin(&self, i: usize) -> (u32, u32) {
        let edge = cell_edge(self.size);
        let step = edge + self.gutter;
        let (col, row) = ((i % 2) as u32, (i / 2) as u32);
        (self.gutter + col * step, self.gutter + row * step)
    }

    /// One line for humans: `seeds 1, 2, 3, 4 · 12-fold · ocean · 1024px`
    /// (what all four cells share is named once).
    pub fn summary(&self) -> String {
        let seeds: Vec<String> = self.cells.iter().map(|c| c.seed.to_string()).collect();
        let mut parts = vec![match self.kind {
            GridKind::Candidates => format!("seeds {}", seeds.join(", ")),
            GridKind::Variations => format!(
                "variations of seed {}",
                seeds.first().map_or("", String::as_str)
            ),
        }];
        let shared = |f: &dyn Fn(&ResolvedSpec) -> String| {
            let first = self.cells.first().map(f)?;
            self.cells.iter().all(|c| f(c) == first).then_some(first)
        };
        let mirrored = self.cells.iter().all(|c| c.mirror);
        parts.extend(
            shared(&|c| c.symmetry.to_string())
                .map(|n| format!("{n}-fold{}", if mirrored { " mirrored" } else { "" })),
        );
        parts.extend(shared(&|c| c.palette.clone()));
        parts.push(format!("{}px", self.size));
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RenderSpec {
        RenderSpec {
            seed: Some(42),
            symmetry: Some(9),
            ..Default::default()
        }
    }

    #[test]
    fn candidates_are_four_new_seeds_with_the_same_options() {
        let c = cells(&base(), GridKind::Candidates).unwrap();
        let seeds: std::collections::BTreeSet<u64> = c.iter().map(|c| c.seed.unwrap()).collect();
        assert_eq!(seeds.len(), 4);
        assert!(
            c.iter()
                .all(|c| c.symmetry == Some(9) && c.seed.unwrap() < 1 << 53)
        );
        assert_eq!(
            c,
            cells(&base(), GridKind::Candidates).unwrap(),
            "deterministic"
        );
    }

    #[test]
    fn variations_keep_the_seed_and_differ_in_variant() {
        let c = cells(&base(), GridKind::Variations).unwrap();
        assert!(c.iter().all(|c| c.seed == Some(42)));
        let variants: std::collections::BTreeSet<u32> =
            c.iter().map(|c| c.variant.unwrap()).collect();
        assert_eq!(variants.len(), 4);
        assert!(!variants.contains(&0));
    }

    #[test]
    fn a_grid_lays_out_four_cells_inside_its_edge() {
        let g = base().resolve_grid(GridKind::Candidates).unwrap();
        assert_eq!((g.size, g.gutter, g.cells.len()), (1024, 8, 4));
        let edge = cell_edge(1024);
        assert_eq!(edge, 500);
        assert!(g.cells.iter().all(|c| c.size == edge));
        assert_eq!(g.origin(0), (8, 8));
        assert_eq!(g.origin(3), (8 + 508, 8 + 508));
        assert_eq!(g.origin(3).0 + edge + g.gutter, 1024);
        assert!(g.object_name().starts_with("renders/v1/grid-"));
        assert_ne!(
            g.hash(),
            base().resolve_grid(GridKind::Variations).unwrap().hash()
        );
    }

    #[test]
    fn small_or_svg_grids_are_refused() {
        let small = RenderSpec {
            size: Some(128),
            ..base()
        };
        assert_eq!(
            small
                .resolve_grid(GridKind::Candidates)
                .unwrap_err()
                .field(),
            "size"
        );
        let svg = RenderSpec {
            format: Some(Format::Svg),
            ..base()
        };
        assert_eq!(
            svg.resolve_grid(GridKind::Candidates).unwrap_err().field(),
            "format"
        );
    }
}
