//! [`Drawing`]: what one job draws — one mandala, or a grid of four.
//!
//! The worker stores, renders, prices and captions both the same way; this
//! type answers every question it asks of either, so the job's story does
//! not branch on the kind of picture.

use crate::cost::Cost;
use crate::grid::{GridKind, ResolvedGrid, cell_edge, gutter};
use crate::resolve::{ResolvedSpec, SpecHash};
use crate::spec::{Format, RenderSpec, SpecError};

/// One resolved mandala or one resolved grid.
#[derive(Debug, Clone, PartialEq)]
pub enum Drawing {
    One(ResolvedSpec),
    Grid(ResolvedGrid),
}

impl Drawing {
    /// Resolves `spec` (which must have its seed for a grid) as one image,
    /// or as a grid of `kind`.
    pub fn resolve(spec: &RenderSpec, grid: Option<GridKind>) -> Result<Drawing, SpecError> {
        Ok(match grid {
            None => Drawing::One(spec.resolve()?),
            Some(kind) => Drawing::Grid(spec.resolve_grid(kind)?),
        })
    }

    pub fn hash(&self) -> SpecHash {
        match self {
            Drawing::One(s) => s.hash(),
            Drawing::Grid(g) => g.hash(),
        }
    }

    /// Where the image is stored, content-addressed.
    pub fn object_name(&self) -> String {
        match self {
            Drawing::One(s) => s.object_name(),
            Drawing::Grid(g) => g.object_name(),
        }
    }

    /// What the image's spec chunk and the stored object's metadata hold.
    pub fn canonical_json(&self) -> String {
        match self {
            Drawing::One(s) => s.canonical_json(),
            Drawing::Grid(g) => g.canonical_json(),
        }
    }

    /// One line for humans.
    pub fn summary(&self) -> String {
        match self {
            Drawing::One(s) => s.summary(),
            Drawing::Grid(g) => g.summary(),
        }
    }

    /// The seed named in captions and file names: the mandala's, or the
    /// first cell's.
    pub fn seed(&self) -> u64 {
        match self {
            Drawing::One(s) => s.seed,
            Drawing::Grid(g) => g.cells.first().map_or(0, |c| c.seed),
        }
    }

    pub fn size(&self) -> u32 {
        match self {
            Drawing::One(s) => s.size,
            Drawing::Grid(g) => g.size,
        }
    }

    pub fn format(&self) -> Format {
        match self {
            Drawing::One(s) => s.format,
            Drawing::Grid(g) => g.format,
        }
    }

    /// The predicted render effort: a grid is its four cells.
    pub fn cost(&self) -> Cost {
        match self {
            Drawing::One(s) => s.cost(),
            Drawing::Grid(g) => Cost(g.cells.iter().map(|c| c.cost().0).sum()),
        }
    }

    /// The same drawing at half the edge, for a preview that fits an upload
    /// limit; `None` below 256 px (or the grid minimum).
    pub fn halved(&self) -> Option<Drawing> {
        let size = self.size() / 2;
        match self {
            Drawing::One(s) if size >= 256 => {
                Some(Drawing::One(ResolvedSpec { size, ..s.clone() }))
            }
            Drawing::Grid(g) if size >= crate::grid::MIN_SIZE => {
                let edge = cell_edge(size);
                Some(Drawing::Grid(ResolvedGrid {
                    size,
                    gutter: gutter(size),
                    cells: g
                        .cells
                        .iter()
                        .map(|c| ResolvedSpec {
                            size: edge,
                            ..c.clone()
                        })
                        .collect(),
                    ..g.clone()
                }))
            }
            _ => None,
        }
    }

    /// The same drawing encoded as `format`; a grid cannot be an SVG.
    pub fn with_format(self, format: Format) -> Result<Drawing, SpecError> {
        Ok(match self {
            Drawing::One(s) => Drawing::One(ResolvedSpec { format, ..s }),
            Drawing::Grid(_) if format == Format::Svg => {
                return Err(SpecError::Invalid {
                    field: "format",
                    value: "svg".into(),
                    allowed: "png or webp for a grid".into(),
                });
            }
            Drawing::Grid(g) => Drawing::Grid(ResolvedGrid {
                format,
                cells: g
                    .cells
                    .into_iter()
                    .map(|c| ResolvedSpec { format, ..c })
                    .collect(),
                ..g
            }),
        })
    }

    pub fn is_grid(&self) -> bool {
        matches!(self, Drawing::Grid(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_costs_its_cells_and_halves_whole() {
        let spec = RenderSpec {
            seed: Some(3),
            size: Some(1024),
            ..Default::default()
        };
        let one = Drawing::resolve(&spec, None).unwrap();
        let grid = Drawing::resolve(&spec, Some(GridKind::Candidates)).unwrap();
        assert_ne!(one.object_name(), grid.object_name());
        assert!(grid.cost().0 > 0 && one.cost().0 > 0);
        let Some(Drawing::Grid(half)) = grid.halved() else {
            panic!("a 1024 px grid halves");
        };
        assert_eq!((half.size, half.gutter), (512, 4));
        assert!(half.cells.iter().all(|c| c.size == cell_edge(512)));
        // The cells stay the same mandalas, only smaller.
        let Drawing::Grid(full) = &grid else {
            unreachable!()
        };
        assert_eq!(half.cells[2].seed, full.cells[2].seed);
        assert_eq!(one.halved().unwrap().size(), 512);
        let tiny = RenderSpec {
            size: Some(300),
            ..spec
        };
        assert!(
            Drawing::resolve(&tiny, Some(GridKind::Candidates))
                .unwrap()
                .halved()
                .is_none()
        );
    }
}
