//! Opaque sRGB colours written as `#rrggbb`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An sRGB colour. Serialises as lowercase `#rrggbb`; parses `#rgb`,
/// `#rrggbb` and the same without the `#`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// Builds a colour from a `0xrrggbb` literal (used by the palette table).
    pub const fn hex(v: u32) -> Self {
        Self::new((v >> 16) as u8, (v >> 8) as u8, v as u8)
    }

    /// Relative luminance in 0..=1 (WCAG), used to pick contrasting strokes.
    pub fn luminance(self) -> f64 {
        fn lin(c: u8) -> f64 {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        0.2126 * lin(self.r) + 0.7152 * lin(self.g) + 0.0722 * lin(self.b)
    }
}

/// Why a string is not a colour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a colour (expected #rgb or #rrggbb)")]
pub struct BadColour(pub String);

impl FromStr for Rgb {
    type Err = BadColour;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadColour(s.to_owned());
        let digits = s.trim().strip_prefix('#').unwrap_or(s.trim());
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let nibble = |i: usize| u8::from_str_radix(&digits[i..=i], 16).map_err(|_| bad());
        match digits.len() {
            3 => Ok(Self::new(nibble(0)? * 17, nibble(1)? * 17, nibble(2)? * 17)),
            6 => {
                let byte = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| bad());
                Ok(Self::new(byte(0)?, byte(2)?, byte(4)?))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

impl Serialize for Rgb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_long_short_and_bare_forms() {
        assert_eq!("#ff8000".parse::<Rgb>().unwrap(), Rgb::new(255, 128, 0));
        assert_eq!("f80".parse::<Rgb>().unwrap(), Rgb::new(255, 136, 0));
        assert_eq!("#ABCDEF".parse::<Rgb>().unwrap().to_string(), "#abcdef");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "#",
            "#12",
            "#1234",
            "#gggggg",
            "red",
            "#ff00ff00",
            "#ff 000",
        ] {
            assert!(bad.parse::<Rgb>().is_err(), "{bad} parsed");
        }
    }
}
