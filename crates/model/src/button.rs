//! Button state in a component's `custom_id`.
//!
//! Buttons must keep working for as long as the message exists, on any
//! instance, so they carry their whole state: the action and the user's
//! explicit options plus the seed, in a compact, versioned form of at most
//! 100 characters (Discord's limit):
//!
//! `m1:<action>:<seed>:<variant>:<symmetry>:<mirror>:<layers>:<elements>:<style>:<palette>:<background>:<size>`
//!
//! Numbers are base 36 (seed) or decimal; an empty field means "not set";
//! a custom palette is `~` followed by dot-separated hex colours.

use std::fmt::Write as _;

use crate::bounds;
use crate::colour::Rgb;
use crate::spec::{Background, PaletteChoice, RenderSpec, StyleChoice};

/// Discord's `custom_id` limit.
pub const MAX_LEN: usize = 100;
const PREFIX: &str = "m1";
const FIELDS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// A new seed, the same options.
    Reroll,
    /// The same design with one or two layers reshaped.
    Variation,
    /// The same image at twice the size.
    Upscale,
}

impl ButtonAction {
    pub const ALL: [ButtonAction; 3] = [
        ButtonAction::Reroll,
        ButtonAction::Variation,
        ButtonAction::Upscale,
    ];

    fn code(self) -> &'static str {
        match self {
            ButtonAction::Reroll => "r",
            ButtonAction::Variation => "v",
            ButtonAction::Upscale => "u",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ButtonAction::Reroll => "Re-roll",
            ButtonAction::Variation => "Vary",
            ButtonAction::Upscale => "Upscale",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            ButtonAction::Reroll => "🔄",
            ButtonAction::Variation => "✨",
            ButtonAction::Upscale => "🔍",
        }
    }
}

/// What a button does, and to which image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonState {
    pub action: ButtonAction,
    /// The user's options with the seed (and variant) that produced the image.
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

fn style_code(s: StyleChoice) -> &'static str {
    match s {
        StyleChoice::Line => "l",
        StyleChoice::Fill => "f",
        StyleChoice::Bezier => "b",
        StyleChoice::BezierFill => "B",
        StyleChoice::Spline => "s",
        StyleChoice::Random => "r",
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl ButtonState {
    /// Encodes, failing if the result would exceed [`MAX_LEN`].
    pub fn encode(&self) -> Result<String, ButtonError> {
        let s = &self.spec;
        let mut out = format!("{PREFIX}:{}:", self.action.code());
        if let Some(seed) = s.seed {
            out.push_str(&to_base36(seed));
        }
        let palette = match &s.palette {
            None => String::new(),
            Some(PaletteChoice::Named(n)) => n.clone(),
            Some(PaletteChoice::Custom(c)) => {
                "~".to_owned()
                    + &c.iter()
                        .map(|c| c.to_string()[1..].to_owned())
                        .collect::<Vec<_>>()
                        .join(".")
            }
        };
        let background = match s.background {
            None => String::new(),
            Some(Background::Transparent) => "t".into(),
            Some(Background::Colour(c)) => c.to_string()[1..].to_owned(),
        };
        let _ = write!(
            out,
            ":{}:{}:{}:{}:{}:{}:{}:{}:{}",
            opt(s.variant),
            opt(s.symmetry),
            opt(s.mirror.map(u8::from)),
            opt(s.layers),
            opt(s.elements),
            s.style.map(style_code).unwrap_or_default(),
            palette,
            background,
            opt(s.size),
        );
        if out.len() > MAX_LEN {
            return Err(ButtonError::TooLong(out.len()));
        }
        Ok(out)
    }

    /// Encodes, dropping a custom palette that does not fit (the button then
    /// re-rolls the palette) rather than losing the button.
    pub fn encode_lossy(&self) -> Result<String, ButtonError> {
        self.encode().or_else(|_| {
            let mut slim = self.clone();
            slim.spec.palette = None;
            slim.encode()
        })
    }

    pub fn parse(id: &str) -> Result<Self, ButtonError> {
        if id.len() > MAX_LEN {
            return Err(ButtonError::TooLong(id.len()));
        }
        let parts: Vec<&str> = id.split(':').collect();
        if parts.len() != FIELDS {
            return Err(ButtonError::Malformed("wrong number of fields"));
        }
        if parts[0] != PREFIX {
            return Err(ButtonError::Malformed("unknown prefix or version"));
        }
        let action = match parts[1] {
            "r" => ButtonAction::Reroll,
            "v" => ButtonAction::Variation,
            "u" => ButtonAction::Upscale,
            _ => return Err(ButtonError::Malformed("unknown action")),
        };
        fn num<T: std::str::FromStr>(
            s: &str,
            what: &'static str,
        ) -> Result<Option<T>, ButtonError> {
            if s.is_empty() {
                return Ok(None);
            }
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ButtonError::Malformed(what));
            }
            s.parse()
                .map(Some)
                .map_err(|_| ButtonError::Malformed(what))
        }
        let seed = if parts[2].is_empty() {
            None
        } else {
            Some(u64::from_str_radix(parts[2], 36).map_err(|_| ButtonError::Malformed("seed"))?)
        };
        let mirror = match parts[5] {
            "" => None,
            "0" => Some(false),
            "1" => Some(true),
            _ => return Err(ButtonError::Malformed("mirror")),
        };
        let style = match parts[8] {
            "" => None,
            "l" => Some(StyleChoice::Line),
            "f" => Some(StyleChoice::Fill),
            "b" => Some(StyleChoice::Bezier),
            "B" => Some(StyleChoice::BezierFill),
            "s" => Some(StyleChoice::Spline),
            "r" => Some(StyleChoice::Random),
            _ => return Err(ButtonError::Malformed("style")),
        };
        let palette = match parts[9] {
            "" => None,
            p if p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') => {
                Some(PaletteChoice::Named(p.to_owned()))
            }
            p => Some(PaletteChoice::Custom(
                p.strip_prefix('~')
                    .ok_or(ButtonError::Malformed("palette"))?
                    .split('.')
                    .map(|h| {
                        if h.len() == 6 {
                            h.parse::<Rgb>().ok()
                        } else {
                            None
                        }
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or(ButtonError::Malformed("palette"))?,
            )),
        };
        let background = match parts[10] {
            "" => None,
            "t" => Some(Background::Transparent),
            h if h.len() == 6 => Some(Background::Colour(
                h.parse()
                    .map_err(|_| ButtonError::Malformed("background"))?,
            )),
            _ => return Err(ButtonError::Malformed("background")),
        };
        let spec = RenderSpec {
            seed,
            variant: num(parts[3], "variant")?,
            symmetry: num(parts[4], "symmetry")?,
            mirror,
            layers: num(parts[6], "layers")?,
            elements: num(parts[7], "elements")?,
            style,
            palette,
            background,
            ornaments: None,
            size: num(parts[11], "size")?,
            format: None,
        };
        spec.validate()?;
        Ok(ButtonState { action, spec })
    }

    /// The spec the click asks for. `entropy` (e.g. the click's interaction
    /// id) picks the new seed or variant, so a repeated click with the same
    /// interaction id asks for the same image.
    pub fn next_spec(&self, entropy: u64) -> RenderSpec {
        let mut spec = self.spec.clone();
        match self.action {
            ButtonAction::Reroll => {
                // Keep new seeds typeable into the slash command (≤ 2^53).
                spec.seed = Some(entropy >> 11);
                spec.variant = None;
            }
            ButtonAction::Variation => {
                let v = (entropy % u64::from(u32::MAX)) as u32;
                spec.variant = Some(v.max(1));
            }
            ButtonAction::Upscale => {
                let size = spec.size.unwrap_or(bounds::DEFAULT_SIZE);
                spec.size = Some((size * 2).min(bounds::UPSCALE_MAX));
            }
        }
        spec
    }

    /// Whether the button can do anything (upscale stops at the maximum size).
    pub fn is_useful(&self) -> bool {
        self.action != ButtonAction::Upscale
            || self.spec.size.unwrap_or(bounds::DEFAULT_SIZE) < bounds::UPSCALE_MAX
    }
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full() -> RenderSpec {
        RenderSpec {
            seed: Some(u64::MAX),
            variant: Some(u32::MAX),
            symmetry: Some(64),
            mirror: Some(true),
            layers: Some(12),
            elements: Some(32),
            style: Some(StyleChoice::BezierFill),
            palette: Some(PaletteChoice::Named("stained-glass".into())),
            background: Some(Background::Colour(Rgb::new(1, 2, 3))),
            ornaments: None,
            size: Some(4096),
            format: None,
        }
    }

    #[test]
    fn the_largest_state_fits() {
        let id = ButtonState {
            action: ButtonAction::Upscale,
            spec: full(),
        }
        .encode()
        .unwrap();
        assert!(id.len() <= MAX_LEN, "{} chars: {id}", id.len());
        assert_eq!(ButtonState::parse(&id).unwrap().spec, full());
    }

    #[test]
    fn long_custom_palettes_are_dropped_not_fatal() {
        let mut spec = full();
        spec.palette = Some(PaletteChoice::Custom(vec![Rgb::new(9, 9, 9); 16]));
        let st = ButtonState {
            action: ButtonAction::Reroll,
            spec,
        };
        assert!(matches!(st.encode(), Err(ButtonError::TooLong(_))));
        let id = st.encode_lossy().unwrap();
        assert_eq!(ButtonState::parse(&id).unwrap().spec.palette, None);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "m1",
            "m2:r::::::::::",
            "m1:x::::::::::",
            "m1:r:zz!::::::::::",
            "m1:r::::2:::::::",
            "m1:r:::999:::::::",
            "m1:r:::::::::zz:::",
            "m1:r:1::::::::ocean::64:extra",
        ] {
            assert!(ButtonState::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

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
        let r = st(ButtonAction::Reroll).next_spec(1 << 40);
        assert_ne!(r.seed, Some(5));
        let v = st(ButtonAction::Variation).next_spec(77);
        assert_eq!((v.seed, v.variant), (Some(5), Some(77)));
        let u = st(ButtonAction::Upscale).next_spec(0);
        assert_eq!((u.seed, u.size), (Some(5), Some(2048)));
        let maxed = ButtonState {
            action: ButtonAction::Upscale,
            spec: RenderSpec {
                size: Some(4096),
                ..Default::default()
            },
        };
        assert!(!maxed.is_useful());
        assert_eq!(maxed.next_spec(0).size, Some(4096));
    }

    fn any_spec() -> impl Strategy<Value = RenderSpec> {
        (
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(2u32..=64),
            proptest::option::of(any::<bool>()),
            proptest::option::of(1u32..=12),
            proptest::option::of(2u32..=32),
            proptest::option::of(0usize..6),
            proptest::option::of(prop_oneof![
                proptest::sample::select(crate::palette::names().collect::<Vec<_>>())
                    .prop_map(|n| PaletteChoice::Named(n.to_owned())),
                proptest::collection::vec(
                    any::<(u8, u8, u8)>().prop_map(|(r, g, b)| Rgb::new(r, g, b)),
                    1..=4
                )
                .prop_map(PaletteChoice::Custom),
            ]),
            proptest::option::of(prop_oneof![
                Just(Background::Transparent),
                any::<(u8, u8, u8)>().prop_map(|(r, g, b)| Background::Colour(Rgb::new(r, g, b)))
            ]),
            proptest::option::of(64u32..=4096),
        )
            .prop_map(
                |(
                    seed,
                    variant,
                    symmetry,
                    mirror,
                    layers,
                    elements,
                    style,
                    palette,
                    background,
                    size,
                )| RenderSpec {
                    seed,
                    variant,
                    symmetry,
                    mirror,
                    layers,
                    elements,
                    style: style.map(|i| {
                        [
                            StyleChoice::Line,
                            StyleChoice::Fill,
                            StyleChoice::Bezier,
                            StyleChoice::BezierFill,
                            StyleChoice::Spline,
                            StyleChoice::Random,
                        ][i]
                    }),
                    palette,
                    background,
                    ornaments: None,
                    size,
                    format: None,
                },
            )
    }

    proptest! {
        #[test]
        fn encode_parse_round_trips(spec in any_spec(), a in 0usize..3) {
            let st = ButtonState { action: ButtonAction::ALL[a], spec };
            let id = st.encode_lossy().unwrap();
            prop_assert!(id.len() <= MAX_LEN);
            let back = ButtonState::parse(&id).unwrap();
            prop_assert_eq!(back.action, st.action);
            if st.encode().is_ok() {
                prop_assert_eq!(back.spec, st.spec);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,120}") {
            let _ = ButtonState::parse(&s);
        }
    }
}
