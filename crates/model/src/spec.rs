//! [`RenderSpec`]: what a user may ask for, every field optional.
//!
//! A spec comes from a slash command, a button, a manual job or the CLI. It
//! is validated against [`crate::bounds`] and then resolved
//! ([`crate::resolve`]) into the complete [`crate::ResolvedSpec`] the
//! renderer draws.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bounds;
use crate::colour::{BadColour, Rgb};
use crate::palette;

/// The user's request. `None` means "let the seed decide".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Picks a variation of the seed's design: same palette, symmetry and
    /// layers, one or two layers reshaped. `0` or absent is the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u32>,
    /// A subtle variation: the same shapes, with colours moved between the
    /// layers and their transparency nudged. `0` or absent is the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tint: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetry: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<StyleChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palette: Option<PaletteChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Background>,
    /// Rings and dots between layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ornaments: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
}

/// How a layer's points are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// Open polyline through the shuffled points.
    Line,
    /// Closed polygon, filled with the non-zero rule, plus its outline.
    #[serde(alias = "polygon")]
    Fill,
    /// One Bézier curve of degree 2n-1 with the shuffled points as controls.
    Bezier,
    /// The Bézier curve closed, filled translucently, with an opaque outline.
    #[serde(alias = "bezier_fill", alias = "bezierfill")]
    BezierFill,
    /// A smooth closed spline through the points, filled translucently.
    Spline,
}

impl Style {
    pub const ALL: [Style; 5] = [
        Style::Line,
        Style::Fill,
        Style::Bezier,
        Style::BezierFill,
        Style::Spline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Style::Line => "line",
            Style::Fill => "fill",
            Style::Bezier => "bezier",
            Style::BezierFill => "bezier-fill",
            Style::Spline => "spline",
        }
    }
}

/// A style, or `random` for a seeded pick per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StyleChoice {
    Line,
    #[serde(alias = "polygon")]
    Fill,
    Bezier,
    #[serde(alias = "bezier_fill", alias = "bezierfill")]
    BezierFill,
    Spline,
    Random,
}

impl From<Style> for StyleChoice {
    fn from(s: Style) -> Self {
        match s {
            Style::Line => StyleChoice::Line,
            Style::Fill => StyleChoice::Fill,
            Style::Bezier => StyleChoice::Bezier,
            Style::BezierFill => StyleChoice::BezierFill,
            Style::Spline => StyleChoice::Spline,
        }
    }
}

impl StyleChoice {
    pub const NAMES: [&'static str; 6] =
        ["line", "fill", "bezier", "bezier-fill", "spline", "random"];

    pub fn fixed(self) -> Option<Style> {
        match self {
            StyleChoice::Line => Some(Style::Line),
            StyleChoice::Fill => Some(Style::Fill),
            StyleChoice::Bezier => Some(Style::Bezier),
            StyleChoice::BezierFill => Some(Style::BezierFill),
            StyleChoice::Spline => Some(Style::Spline),
            StyleChoice::Random => None,
        }
    }

    pub fn name(self) -> &'static str {
        self.fixed().map_or("random", Style::name)
    }
}

impl FromStr for StyleChoice {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).map_err(
            |_| SpecError::Invalid {
                field: "style",
                value: s.to_owned(),
                allowed: Self::NAMES.join(", "),
            },
        )
    }
}

/// A named palette or a list of custom colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PaletteChoice {
    Named(String),
    Custom(Vec<Rgb>),
}

impl FromStr for PaletteChoice {
    type Err = SpecError;

    /// `ocean`, `harmony`, or a comma/space separated list of hex colours.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('#') || s.contains(',') {
            let colours = s
                .split([',', ' '])
                .filter(|p| !p.is_empty())
                .map(str::parse)
                .collect::<Result<Vec<Rgb>, BadColour>>()
                .map_err(|e| SpecError::Invalid {
                    field: "palette",
                    value: e.0,
                    allowed: "a palette name or hex colours like #ff8800,#0088ff".into(),
                })?;
            Ok(PaletteChoice::Custom(colours))
        } else {
            Ok(PaletteChoice::Named(s.to_ascii_lowercase()))
        }
    }
}

impl fmt::Display for PaletteChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaletteChoice::Named(n) => f.write_str(n),
            PaletteChoice::Custom(c) => {
                let list: Vec<String> = c.iter().map(ToString::to_string).collect();
                f.write_str(&list.join(","))
            }
        }
    }
}

/// The canvas behind the drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Background {
    Transparent,
    Colour(Rgb),
}

impl FromStr for Background {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("transparent") || s.trim().eq_ignore_ascii_case("none") {
            return Ok(Background::Transparent);
        }
        s.parse()
            .map(Background::Colour)
            .map_err(|_| SpecError::Invalid {
                field: "background",
                value: s.to_owned(),
                allowed: "a hex colour like #112233, or transparent".into(),
            })
    }
}

impl fmt::Display for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Background::Transparent => f.write_str("transparent"),
            Background::Colour(c) => c.fmt(f),
        }
    }
}

impl Serialize for Background {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Background {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The encoded image format.
///
/// WebP is the default: lossless like PNG, the same pixels in about a third
/// of the bytes, and bytes — sent to Discord and kept in storage — are most
/// of what an image costs (docs/COST.md). `png` is there for anyone who
/// wants one; `svg` for vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Png,
    #[default]
    Webp,
    Svg,
}

impl Format {
    pub const NAMES: [&'static str; 3] = ["png", "webp", "svg"];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Svg => "svg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Svg => "image/svg+xml",
        }
    }
}

impl FromStr for Format {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "webp" => Ok(Format::Webp),
            "svg" => Ok(Format::Svg),
            _ => Err(SpecError::Invalid {
                field: "format",
                value: s.to_owned(),
                allowed: Self::NAMES.join(", "),
            }),
        }
    }
}

/// Why a spec cannot be rendered. Every variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{field} {value} is out of range (allowed {allowed})")]
    OutOfRange {
        field: &'static str,
        value: String,
        allowed: String,
    },
    #[error("{field} {value:?} is not valid (allowed: {allowed})")]
    Invalid {
        field: &'static str,
        value: String,
        allowed: String,
    },
    #[error("seed is missing (the caller must choose one before resolving)")]
    MissingSeed,
    #[error("spec version {found} is not supported (this build renders version {supported})")]
    Version { found: u32, supported: u32 },
}

impl SpecError {
    /// The spec field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            SpecError::OutOfRange { field, .. } | SpecError::Invalid { field, .. } => field,
            SpecError::MissingSeed => "seed",
            SpecError::Version { .. } => "version",
        }
    }
}

pub(crate) fn check_range<T>(
    field: &'static str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> Result<(), SpecError>
where
    T: PartialOrd + fmt::Display + Copy,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(SpecError::OutOfRange {
            field,
            value: value.to_string(),
            allowed: bounds::describe(range),
        })
    }
}

impl RenderSpec {
    /// Checks every set field against [`crate::bounds`] and the palette table.
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(v) = self.symmetry {
            check_range("symmetry", v, &bounds::SYMMETRY)?;
        }
        if let Some(v) = self.layers {
            check_range("layers", v, &bounds::LAYERS)?;
        }
        if let Some(v) = self.elements {
            check_range("elements", v, &bounds::ELEMENTS)?;
        }
        if let Some(v) = self.size {
            check_range("size", v, &bounds::SIZE)?;
        }
        match &self.palette {
            Some(PaletteChoice::Named(name))
                if palette::find(name).is_none()
                    && !name.eq_ignore_ascii_case(palette::HARMONY) =>
            {
                return Err(SpecError::Invalid {
                    field: "palette",
                    value: name.clone(),
                    allowed: palette::names().collect::<Vec<_>>().join(", ")
                        + ", or hex colours like #ff8800,#0088ff",
                });
            }
            Some(PaletteChoice::Custom(colours)) => {
                check_range("palette colours", colours.len(), &bounds::PALETTE_COLOURS)?;
            }
            Some(PaletteChoice::Named(_)) | None => {}
        }
        Ok(())
    }

    /// Fills a missing seed from `entropy` (a message or interaction id, say),
    /// so that redeliveries of one job always mean the same image.
    pub fn with_seed_from(mut self, entropy: &[u8]) -> Self {
        if self.seed.is_none() {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(entropy);
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            self.seed = Some(u64::from_le_bytes(first));
        }
        self
    }
}

/// Turns free text into a seed: digits are the number itself, anything else
/// (a word, a name) is hashed, so `/mandala seed:rosebud` is reproducible.
pub fn seed_from_text(text: &str) -> u64 {
    let text = text.trim();
    text.parse().unwrap_or_else(|_| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        // Keep text seeds within JavaScript's safe integer range so they can
        // be typed back into the slash command's integer fields.
        u64::from_le_bytes(first) >> 11
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webp_is_the_default_format() {
        assert_eq!(Format::default(), Format::Webp);
        let r = RenderSpec {
            seed: Some(1),
            ..RenderSpec::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(r.format, Format::Webp);
        assert_eq!(r.object_name(), format!("renders/v1/{}.webp", r.hash()));
    }

    #[test]
    fn empty_json_is_an_empty_spec() {
        let s: RenderSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(s, RenderSpec::default());
        assert_eq!(serde_json::to_string(&s).unwrap(), "{}");
    }

    #[test]
    fn parses_a_full_spec() {
        let s: RenderSpec = serde_json::from_str(
            r##"{"seed":42,"symmetry":8,"mirror":false,"layers":3,"elements":6,"style":"bezier_fill",
                "palette":["#ff0000","00ff00"],"background":"transparent","size":512,"format":"webp"}"##,
        )
        .unwrap();
        assert_eq!(s.style, Some(StyleChoice::BezierFill));
        assert_eq!(s.background, Some(Background::Transparent));
        assert_eq!(
            s.palette,
            Some(PaletteChoice::Custom(vec![
                Rgb::new(255, 0, 0),
                Rgb::new(0, 255, 0)
            ]))
        );
        s.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_named() {
        let e = serde_json::from_str::<RenderSpec>(r#"{"sed":1}"#).unwrap_err();
        assert!(e.to_string().contains("sed"), "{e}");
    }

    #[test]
    fn out_of_range_names_field_value_and_range() {
        let s = RenderSpec {
            symmetry: Some(99),
            ..RenderSpec::default()
        };
        let e = s.validate().unwrap_err();
        assert_eq!(e.field(), "symmetry");
        assert_eq!(
            e.to_string(),
            "symmetry 99 is out of range (allowed 2..=64)"
        );
        for (spec, field) in [
            (
                RenderSpec {
                    size: Some(10),
                    ..Default::default()
                },
                "size",
            ),
            (
                RenderSpec {
                    layers: Some(0),
                    ..Default::default()
                },
                "layers",
            ),
            (
                RenderSpec {
                    elements: Some(33),
                    ..Default::default()
                },
                "elements",
            ),
            (
                RenderSpec {
                    palette: Some(PaletteChoice::Named("mauve".into())),
                    ..Default::default()
                },
                "palette",
            ),
            (
                RenderSpec {
                    palette: Some(PaletteChoice::Custom(vec![Rgb::new(1, 2, 3); 17])),
                    ..Default::default()
                },
                "palette colours",
            ),
        ] {
            assert_eq!(spec.validate().unwrap_err().field(), field);
        }
    }

    #[test]
    fn cli_style_strings_parse() {
        assert_eq!(
            "bezier-fill".parse::<StyleChoice>().unwrap(),
            StyleChoice::BezierFill
        );
        assert_eq!(
            "Random".parse::<StyleChoice>().unwrap(),
            StyleChoice::Random
        );
        assert_eq!(
            "zigzag".parse::<StyleChoice>().unwrap_err().field(),
            "style"
        );
        assert_eq!(
            "#fff, #000".parse::<PaletteChoice>().unwrap(),
            PaletteChoice::Custom(vec![Rgb::new(255, 255, 255), Rgb::new(0, 0, 0)])
        );
        assert_eq!(
            "#zzz".parse::<PaletteChoice>().unwrap_err().field(),
            "palette"
        );
        assert_eq!(
            "Transparent".parse::<Background>().unwrap(),
            Background::Transparent
        );
    }

    #[test]
    fn text_seeds_are_stable_numbers() {
        assert_eq!(seed_from_text("1234"), 1234);
        assert_eq!(seed_from_text("rosebud"), seed_from_text(" rosebud "));
        assert!(seed_from_text("rosebud") < (1 << 53));
    }
}
