//! The `custom_id` format of a button's state:
//!
//! `m2:<action>:<seed>:<variant>:<tint>:<symmetry>:<mirror>:<layers>:<elements>:<style>:<palette>:<background>:<size>`
//!
//! Numbers are base 36 (seed) or decimal; an empty field means "not set";
//! a custom palette is `~` followed by dot-separated hex colours. Actions:
//! `r` re-roll, `v` vary, `t` vary (subtle), `S` vary (strong), `u` upscale,
//! `x` remix, `g` a new grid, `p<k><n>` take cell n of a grid of kind k
//! (`c` candidates, `v` variations), `w<k><n>` vary cell n. The first
//! format, `m1:` with no tint field and only `r`, `v`, `u`, is still read:
//! buttons on old messages keep working.

use std::fmt::Write as _;

use super::{ButtonAction, ButtonError, ButtonState, MAX_LEN};
use crate::colour::Rgb;
use crate::grid::GridKind;
use crate::spec::{Background, PaletteChoice, RenderSpec, StyleChoice};

const PREFIX: &str = "m2";
const FIELDS: usize = 13;
const OLD_PREFIX: &str = "m1";
const OLD_FIELDS: usize = 12;

/// The codes of the format, each pair read both ways: encoding looks a
/// value up by its left side, parsing by its right.
const ACTION_CODES: [(ButtonAction, &str); 7] = [
    (ButtonAction::Reroll, "r"),
    (ButtonAction::Variation, "v"),
    (ButtonAction::Subtle, "t"),
    (ButtonAction::Strong, "S"),
    (ButtonAction::Upscale, "u"),
    (ButtonAction::Remix, "x"),
    (ButtonAction::NewGrid, "g"),
];
/// How an action on one grid cell is made from its kind and cell number.
type CellAction = fn(GridKind, u8) -> ButtonAction;
/// The actions on one grid cell: `<code><kind><n>`.
const CELL_ACTION_CODES: [(CellAction, u8); 2] =
    [(ButtonAction::Pick, b'p'), (ButtonAction::VaryCell, b'w')];
const KIND_CODES: [(GridKind, u8); 2] =
    [(GridKind::Candidates, b'c'), (GridKind::Variations, b'v')];
const STYLE_CODES: [(StyleChoice, &str); 6] = [
    (StyleChoice::Line, "l"),
    (StyleChoice::Fill, "f"),
    (StyleChoice::Bezier, "b"),
    (StyleChoice::BezierFill, "B"),
    (StyleChoice::Spline, "s"),
    (StyleChoice::Random, "r"),
];
const MIRROR_CODES: [(bool, &str); 2] = [(false, "0"), (true, "1")];

/// The code of `value` in `table`.
fn code_of<T: PartialEq + Copy, C: Copy>(table: &[(T, C)], value: T) -> Option<C> {
    table.iter().find(|(v, _)| *v == value).map(|(_, c)| *c)
}

/// The value whose code is `code` in `table`.
fn value_of<T: Copy, C: PartialEq + ?Sized>(table: &[(T, &C)], code: &C) -> Option<T> {
    table.iter().find(|(_, c)| *c == code).map(|(v, _)| *v)
}

fn kind_code(kind: GridKind) -> char {
    code_of(&KIND_CODES, kind).map_or('?', char::from)
}

impl ButtonAction {
    fn code(self) -> String {
        match self {
            ButtonAction::Pick(k, n) => format!("p{}{n}", kind_code(k)),
            ButtonAction::VaryCell(k, n) => format!("w{}{n}", kind_code(k)),
            simple => code_of(&ACTION_CODES, simple)
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn from_code(code: &str) -> Option<ButtonAction> {
        if let Some(action) = value_of(&ACTION_CODES, code) {
            return Some(action);
        }
        let &[action, kind, n] = code.as_bytes() else {
            return None;
        };
        let make = CELL_ACTION_CODES
            .iter()
            .find(|(_, c)| *c == action)
            .map(|(make, _)| *make)?;
        let kind = KIND_CODES.iter().find(|(_, c)| *c == kind)?.0;
        (b'1'..=b'4').contains(&n).then(|| make(kind, n - b'0'))
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A decimal field; empty is "not set".
fn num<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<Option<T>, ButtonError> {
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

/// A field from a code table; empty is "not set".
fn coded<T: Copy>(
    table: &[(T, &str)],
    s: &str,
    what: &'static str,
) -> Result<Option<T>, ButtonError> {
    if s.is_empty() {
        return Ok(None);
    }
    value_of(table, s)
        .map(Some)
        .ok_or(ButtonError::Malformed(what))
}

/// The seed, in base 36.
fn seed_field(s: &str) -> Result<Option<u64>, ButtonError> {
    if s.is_empty() {
        return Ok(None);
    }
    u64::from_str_radix(s, 36)
        .map(Some)
        .map_err(|_| ButtonError::Malformed("seed"))
}

/// A palette's name, or `~` and its colours' hex digits joined by dots.
fn palette_field(s: &str) -> Result<Option<PaletteChoice>, ButtonError> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return Ok(Some(PaletteChoice::Named(s.to_owned())));
    }
    let colours = s
        .strip_prefix('~')
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
        .ok_or(ButtonError::Malformed("palette"))?;
    Ok(Some(PaletteChoice::Custom(colours)))
}

/// `t` for transparent, or a colour's hex digits.
fn background_field(s: &str) -> Result<Option<Background>, ButtonError> {
    match s {
        "" => Ok(None),
        "t" => Ok(Some(Background::Transparent)),
        h if h.len() == 6 => h
            .parse()
            .map(|c| Some(Background::Colour(c)))
            .map_err(|_| ButtonError::Malformed("background")),
        _ => Err(ButtonError::Malformed("background")),
    }
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
            ":{}:{}:{}:{}:{}:{}:{}:{}:{}:{}",
            opt(s.variant),
            opt(s.tint),
            opt(s.symmetry),
            s.mirror
                .and_then(|m| code_of(&MIRROR_CODES, m))
                .unwrap_or_default(),
            opt(s.layers),
            opt(s.elements),
            s.style
                .and_then(|st| code_of(&STYLE_CODES, st))
                .unwrap_or_default(),
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
        let mut parts: Vec<&str> = id.split(':').collect();
        match (parts.first().copied(), parts.len()) {
            (Some(PREFIX), FIELDS) => {}
            // The first format had no tint: read it as an empty one.
            (Some(OLD_PREFIX), OLD_FIELDS) => parts.insert(4, ""),
            (Some(PREFIX | OLD_PREFIX), _) => {
                return Err(ButtonError::Malformed("wrong number of fields"));
            }
            _ => return Err(ButtonError::Malformed("unknown prefix or version")),
        }
        let &[
            prefix,
            action,
            seed,
            variant,
            tint,
            symmetry,
            mirror,
            layers,
            elements,
            style,
            palette,
            background,
            size,
        ] = parts.as_slice()
        else {
            return Err(ButtonError::Malformed("wrong number of fields"));
        };
        let action =
            ButtonAction::from_code(action).ok_or(ButtonError::Malformed("unknown action"))?;
        if prefix == OLD_PREFIX
            && !matches!(
                action,
                ButtonAction::Reroll | ButtonAction::Variation | ButtonAction::Upscale
            )
        {
            return Err(ButtonError::Malformed("unknown action"));
        }
        let spec = RenderSpec {
            seed: seed_field(seed)?,
            variant: num(variant, "variant")?,
            tint: num(tint, "tint")?,
            symmetry: num(symmetry, "symmetry")?,
            mirror: coded(&MIRROR_CODES, mirror, "mirror")?,
            layers: num(layers, "layers")?,
            elements: num(elements, "elements")?,
            style: coded(&STYLE_CODES, style, "style")?,
            palette: palette_field(palette)?,
            background: background_field(background)?,
            ornaments: None,
            size: num(size, "size")?,
            format: None,
        };
        spec.validate()?;
        Ok(ButtonState { action, spec })
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
            tint: Some(u32::MAX),
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
            "m1:t::::::::::",
            "m2:p5:::::::::::",
            "m2:pq1:::::::::::",
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
    fn first_format_buttons_keep_working() {
        let old = ButtonState::parse("m1:v:16:3:8:1::::ocean::512").unwrap();
        assert_eq!(old.action, ButtonAction::Variation);
        assert_eq!(
            (
                old.spec.seed,
                old.spec.variant,
                old.spec.tint,
                old.spec.symmetry,
                old.spec.size
            ),
            (Some(42), Some(3), None, Some(8), Some(512))
        );
    }

    #[test]
    fn every_action_round_trips() {
        let mut actions = ButtonAction::SINGLE.to_vec();
        actions.extend([ButtonAction::Variation, ButtonAction::NewGrid]);
        for k in [GridKind::Candidates, GridKind::Variations] {
            for n in 1..=4 {
                actions.extend([ButtonAction::Pick(k, n), ButtonAction::VaryCell(k, n)]);
            }
        }
        for action in actions {
            let st = ButtonState {
                action,
                spec: full(),
            };
            let id = st.encode().unwrap();
            assert!(id.len() <= MAX_LEN, "{id}");
            assert_eq!(ButtonState::parse(&id).unwrap(), st, "{id}");
        }
    }

    fn any_spec() -> impl Strategy<Value = RenderSpec> {
        (
            proptest::option::of(any::<u64>()),
            (
                proptest::option::of(any::<u32>()),
                proptest::option::of(any::<u32>()),
            ),
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
                    (variant, tint),
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
                    tint,
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
        fn encode_parse_round_trips(spec in any_spec(), a in 0usize..5) {
            let st = ButtonState { action: ButtonAction::SINGLE[a], spec };
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
