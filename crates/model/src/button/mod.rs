//! Button state in a component's `custom_id`.
//!
//! Buttons must keep working for as long as the message exists, on any
//! instance, so they carry their whole state: the action and the user's
//! explicit options plus the seed, in a compact, versioned form of at most
//! 100 characters (Discord's limit), which the `custom_id` module reads
//! and writes.
//! This module says what each action is and what a click asks for.

mod custom_id;

use crate::bounds;
use crate::colour::Rgb;
use crate::grid::{self, GridKind};
use crate::i18n::Strings;
use crate::resolve::ResolvedSpec;
use crate::spec::{PaletteChoice, RenderSpec, Style, StyleChoice};

/// Discord's `custom_id` limit.
pub const MAX_LEN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// A new seed, the same options: one image.
    Reroll,
    /// The same design with one or two layers reshaped.
    Variation,
    /// The same shapes, colours moved and transparency nudged.
    Subtle,
    /// The same palette, background and style, a new structure.
    Strong,
    /// The same image at twice the size.
    Upscale,
    /// Opens a form with the image's options.
    Remix,
    /// Four new candidates from a new seed.
    NewGrid,
    /// Cell `n` (1–4) of a grid, alone at the grid's size.
    Pick(GridKind, u8),
    /// A grid of four variations of cell `n` (1–4).
    VaryCell(GridKind, u8),
}

/// What a click asks for: one image, or a grid of four.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    pub spec: RenderSpec,
    pub grid: Option<GridKind>,
}

impl ButtonAction {
    /// The buttons under a single image.
    pub const SINGLE: [ButtonAction; 5] = [
        ButtonAction::Subtle,
        ButtonAction::Strong,
        ButtonAction::Upscale,
        ButtonAction::Reroll,
        ButtonAction::Remix,
    ];

    /// The label in the user's language (`U1`, `V2` for grid cells; empty
    /// for the new-grid button, which is its emoji alone).
    pub fn label(self, s: &Strings) -> String {
        match self {
            ButtonAction::Reroll => s.button_reroll.into(),
            ButtonAction::Variation => s.button_vary.into(),
            ButtonAction::Subtle => s.button_subtle.into(),
            ButtonAction::Strong => s.button_strong.into(),
            ButtonAction::Upscale => s.button_upscale.into(),
            ButtonAction::Remix => s.button_remix.into(),
            ButtonAction::NewGrid => String::new(),
            ButtonAction::Pick(_, n) => format!("U{n}"),
            ButtonAction::VaryCell(_, n) => format!("V{n}"),
        }
    }

    pub fn emoji(self) -> Option<&'static str> {
        match self {
            ButtonAction::Reroll | ButtonAction::NewGrid => Some("🔄"),
            ButtonAction::Variation | ButtonAction::Subtle => Some("✨"),
            ButtonAction::Strong => Some("🌀"),
            ButtonAction::Upscale => Some("🔍"),
            ButtonAction::Remix => Some("🎛️"),
            ButtonAction::Pick(..) | ButtonAction::VaryCell(..) => None,
        }
    }

    /// A short name for logs: `reroll`, `pick-2`, …
    pub fn name(self) -> String {
        match self {
            ButtonAction::Reroll => "reroll".into(),
            ButtonAction::Variation => "vary".into(),
            ButtonAction::Subtle => "vary-subtle".into(),
            ButtonAction::Strong => "vary-strong".into(),
            ButtonAction::Upscale => "upscale".into(),
            ButtonAction::Remix => "remix".into(),
            ButtonAction::NewGrid => "new-grid".into(),
            ButtonAction::Pick(_, n) => format!("pick-{n}"),
            ButtonAction::VaryCell(_, n) => format!("vary-cell-{n}"),
        }
    }
}

/// What a button does, and to which image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonState {
    pub action: ButtonAction,
    /// The user's options with the seed (variant, tint) that produced the
    /// image; for a grid's buttons, the grid's base.
    pub spec: RenderSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ButtonError {
    #[error("custom_id is not a mandala button ({0})")]
    Malformed(&'static str),
    #[error("custom_id would be {0} characters (limit {MAX_LEN})")]
    TooLong(usize),
    #[error("custom_id carries an invalid spec: {0}")]
    Spec(#[from] crate::spec::SpecError),
}

impl ButtonState {
    /// What the click asks for; `None` for Remix, which opens a form.
    /// `entropy` (e.g. the click's interaction id) picks the new seed,
    /// variant or tint, so a repeated click with the same interaction id
    /// asks for the same image.
    pub fn next(&self, entropy: u64) -> Option<Next> {
        let mut spec = self.spec.clone();
        let one = |spec| Some(Next { spec, grid: None });
        // New seeds stay typeable into the slash command (≤ 2^53).
        let new_seed = entropy >> 11;
        let nonzero = |e: u64| ((e % u64::from(u32::MAX)) as u32).max(1);
        match self.action {
            // For Vary (Strong) the palette, background and style were
            // pinned into the button's spec when it was made (see
            // [`pin_look`]): the new seed changes only the structure.
            ButtonAction::Reroll | ButtonAction::Strong => {
                spec.seed = Some(new_seed);
                spec.variant = None;
                spec.tint = None;
                one(spec)
            }
            ButtonAction::Variation => {
                spec.variant = Some(nonzero(entropy));
                one(spec)
            }
            ButtonAction::Subtle => {
                spec.tint = Some(nonzero(entropy));
                one(spec)
            }
            ButtonAction::Upscale => {
                let size = spec.size.unwrap_or(bounds::DEFAULT_SIZE);
                spec.size = Some((size * 2).min(bounds::UPSCALE_MAX));
                one(spec)
            }
            ButtonAction::Remix => None,
            ButtonAction::NewGrid => {
                spec.seed = Some(new_seed);
                spec.variant = None;
                spec.tint = None;
                Some(Next {
                    spec,
                    grid: Some(GridKind::Candidates),
                })
            }
            ButtonAction::Pick(kind, n) => {
                let cells = grid::cells(&spec, kind).ok()?;
                one(cells[usize::from(n - 1)].clone())
            }
            ButtonAction::VaryCell(kind, n) => {
                let cells = grid::cells(&spec, kind).ok()?;
                Some(Next {
                    spec: cells[usize::from(n - 1)].clone(),
                    grid: Some(GridKind::Variations),
                })
            }
        }
    }

    /// Whether the button can do anything (upscale stops at the maximum size).
    pub fn is_useful(&self) -> bool {
        self.action != ButtonAction::Upscale
            || self.spec.size.unwrap_or(bounds::DEFAULT_SIZE) < bounds::UPSCALE_MAX
    }
}

/// A harmony pinned as custom colours keeps this many, so the button fits.
const PINNED_INKS: usize = 6;

/// The spec a Vary (Strong) button carries: the user's options with the
/// look of the drawn image pinned — its palette (a harmony's colours as a
/// custom palette), its background and its dominant style — so the new seed
/// changes only the structure.
pub fn pin_look(spec: &RenderSpec, drawn: &ResolvedSpec) -> RenderSpec {
    let mut pinned = spec.clone();
    // A harmony is drawn from the seed: keeping it means keeping its colours.
    let harmony = drawn.palette == crate::palette::HARMONY;
    if pinned.palette.is_none() || harmony {
        pinned.palette = Some(if harmony {
            let mut inks: Vec<Rgb> = Vec::new();
            for l in &drawn.layers {
                for c in [l.stroke, l.fill] {
                    if !inks.contains(&c) && inks.len() < PINNED_INKS {
                        inks.push(c);
                    }
                }
            }
            PaletteChoice::Custom(inks)
        } else {
            PaletteChoice::Named(drawn.palette.clone())
        });
    }
    pinned.background.get_or_insert(drawn.background);
    if pinned.style.is_none() {
        let count = |s: Style| drawn.layers.iter().filter(|l| l.style == s).count();
        pinned.style = Style::ALL
            .into_iter()
            .max_by_key(|s| count(*s))
            .map(StyleChoice::from);
    }
    pinned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_do_what_they_say() {
        let st = |action| ButtonState {
            action,
            spec: RenderSpec {
                seed: Some(5),
                size: Some(1024),
                ..Default::default()
            },
        };
        let next = |a| st(a).next(1 << 40).unwrap();
        let r = next(ButtonAction::Reroll);
        assert_ne!(r.spec.seed, Some(5));
        assert_eq!(r.grid, None);
        let v = st(ButtonAction::Variation).next(77).unwrap().spec;
        assert_eq!((v.seed, v.variant), (Some(5), Some(77)));
        let t = st(ButtonAction::Subtle).next(77).unwrap().spec;
        assert_eq!((t.seed, t.variant, t.tint), (Some(5), None, Some(77)));
        let u = st(ButtonAction::Upscale).next(0).unwrap().spec;
        assert_eq!((u.seed, u.size), (Some(5), Some(2048)));
        assert_eq!(st(ButtonAction::Remix).next(0), None);
        let g = next(ButtonAction::NewGrid);
        assert_eq!(g.grid, Some(GridKind::Candidates));
        assert_ne!(g.spec.seed, Some(5));
        // U3 of a grid is its third cell, alone at the grid's size.
        let cells = grid::cells(&st(ButtonAction::Reroll).spec, GridKind::Candidates).unwrap();
        let pick = next(ButtonAction::Pick(GridKind::Candidates, 3));
        assert_eq!((pick.spec.clone(), pick.grid), (cells[2].clone(), None));
        assert_eq!(pick.spec.size, Some(1024));
        // V2 is a grid of variations of the second cell.
        let vary = next(ButtonAction::VaryCell(GridKind::Candidates, 2));
        assert_eq!(
            (vary.spec, vary.grid),
            (cells[1].clone(), Some(GridKind::Variations))
        );
        let maxed = ButtonState {
            action: ButtonAction::Upscale,
            spec: RenderSpec {
                size: Some(4096),
                ..Default::default()
            },
        };
        assert!(!maxed.is_useful());
        assert_eq!(maxed.next(0).unwrap().spec.size, Some(4096));
    }

    #[test]
    fn strong_keeps_the_look_and_changes_the_structure() {
        for palette in [None, Some(PaletteChoice::Named("harmony".into()))] {
            let spec = RenderSpec {
                seed: Some(8),
                palette,
                size: Some(256),
                ..Default::default()
            };
            let drawn = spec.resolve().unwrap();
            let st = ButtonState {
                action: ButtonAction::Strong,
                spec: pin_look(&spec, &drawn),
            };
            let id = st.encode().unwrap();
            let next = ButtonState::parse(&id).unwrap().next(1 << 40).unwrap().spec;
            let again = next.resolve().unwrap();
            assert_ne!(again.seed, drawn.seed);
            assert_eq!(again.background, drawn.background);
            let inks = |r: &ResolvedSpec| {
                let mut v: Vec<Rgb> = r.layers.iter().flat_map(|l| [l.stroke, l.fill]).collect();
                v.sort_by_key(ToString::to_string);
                v.dedup();
                v
            };
            if drawn.palette == crate::palette::HARMONY {
                // Every colour of the new image is one of the old image's.
                let old = inks(&drawn);
                assert!(inks(&again).iter().all(|c| old.contains(c)));
            } else {
                assert_eq!(again.palette, drawn.palette);
            }
            assert!(
                again
                    .layers
                    .iter()
                    .all(|l| l.style == again.layers[0].style)
            );
        }
    }
}
