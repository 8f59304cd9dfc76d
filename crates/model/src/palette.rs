//! Named palettes and the seeded "harmonious" palette generator.
//!
//! A palette is a background plus an ordered list of ink colours; the
//! renderer assigns inks to layers. Harmonious random palettes are built in
//! OKLCH (a perceptual space) so their colours have even lightness steps and
//! hues that sit well together, whatever the seed.

use crate::colour::Rgb;
use crate::stream::Stream;

/// A curated palette.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub name: &'static str,
    pub description: &'static str,
    pub background: Rgb,
    pub colours: &'static [Rgb],
}

const fn c(v: u32) -> Rgb {
    Rgb::hex(v)
}

/// The name that asks for a harmonious palette generated from the seed.
pub const HARMONY: &str = "harmony";

/// Every named palette, in the order `mandala palettes` lists them.
pub const PALETTES: &[Palette] = &[
    Palette {
        name: "ocean",
        description: "teal, aqua and sand on deep navy",
        background: c(0x0b1d2e),
        colours: &[
            c(0x2ec4b6),
            c(0x48cae4),
            c(0x90e0ef),
            c(0xcaf0f8),
            c(0xe9c46a),
            c(0x0096c7),
        ],
    },
    Palette {
        name: "sunset",
        description: "amber, coral and magenta on dusk purple",
        background: c(0x1d1033),
        colours: &[
            c(0xffb703),
            c(0xfb8500),
            c(0xff5d8f),
            c(0xc9184a),
            c(0xffd6a5),
            c(0x9d4edd),
        ],
    },
    Palette {
        name: "forest",
        description: "moss, fern and gold on night green",
        background: c(0x0f1f17),
        colours: &[
            c(0x95d5b2),
            c(0x52b788),
            c(0x2d6a4f),
            c(0xd8f3dc),
            c(0xe9d8a6),
            c(0x74c69d),
        ],
    },
    Palette {
        name: "ember",
        description: "glowing reds, oranges and yellows on charcoal",
        background: c(0x140a06),
        colours: &[
            c(0xffba08),
            c(0xfaa307),
            c(0xf48c06),
            c(0xe85d04),
            c(0xdc2f02),
            c(0x9d0208),
        ],
    },
    Palette {
        name: "aurora",
        description: "polar greens, teals and violets on midnight",
        background: c(0x070b1f),
        colours: &[
            c(0x80ffdb),
            c(0x64dfdf),
            c(0x5390d9),
            c(0x7400b8),
            c(0xb8f2e6),
            c(0xc77dff),
        ],
    },
    Palette {
        name: "neon",
        description: "electric cyan, magenta, lime and yellow on black",
        background: c(0x050505),
        colours: &[
            c(0x00f5ff),
            c(0xff00e4),
            c(0x39ff14),
            c(0xfff01f),
            c(0xff3131),
            c(0x7df9ff),
        ],
    },
    Palette {
        name: "royal",
        description: "gold and ivory on deep indigo",
        background: c(0x0d0b24),
        colours: &[
            c(0xd4af37),
            c(0xf5e6c8),
            c(0x6a4c93),
            c(0x1982c4),
            c(0xffca3a),
            c(0xb8c0ff),
        ],
    },
    Palette {
        name: "magma",
        description: "the magma colour map: violet to flame to cream, on black",
        background: c(0x000004),
        colours: &[
            c(0xfcfdbf),
            c(0xfe9f6d),
            c(0xde4968),
            c(0x8c2981),
            c(0x3b0f70),
            c(0xfbb67a),
        ],
    },
    Palette {
        name: "viridis",
        description: "the viridis colour map: purple to teal to yellow, on slate",
        background: c(0x15151e),
        colours: &[
            c(0xfde725),
            c(0x5ec962),
            c(0x21918c),
            c(0x3b528b),
            c(0x440154),
            c(0xb5de2b),
        ],
    },
    Palette {
        name: "pastel",
        description: "soft pink, mint, lavender and peach on cream",
        background: c(0xfdf8f2),
        colours: &[
            c(0xef7c74),
            c(0x4cc3a8),
            c(0x8f7cf7),
            c(0xf8a67c),
            c(0x5aafe0),
            c(0xdc7f8a),
        ],
    },
    Palette {
        name: "sakura",
        description: "cherry-blossom pinks, plum and leaf green on blush",
        background: c(0xfff4f6),
        colours: &[
            c(0xe05780),
            c(0xfb6f92),
            c(0x9d4edd),
            c(0x6a994e),
            c(0xc9184a),
            c(0x5a189a),
        ],
    },
    Palette {
        name: "desert",
        description: "terracotta, ochre and sage on sand",
        background: c(0xf3e9d8),
        colours: &[
            c(0xbc6c25),
            c(0xdda15e),
            c(0x606c38),
            c(0x283618),
            c(0x9c6644),
            c(0xe76f51),
        ],
    },
    Palette {
        name: "ink",
        description: "colouring-book line art: black and greys on paper",
        background: c(0xfaf7f0),
        colours: &[
            c(0x111111),
            c(0x333333),
            c(0x555555),
            c(0x222222),
            c(0x444444),
            c(0x000000),
        ],
    },
    Palette {
        name: "mono",
        description: "white and silver lines on black",
        background: c(0x0a0a0a),
        colours: &[
            c(0xffffff),
            c(0xd9d9d9),
            c(0xb3b3b3),
            c(0xeeeeee),
            c(0x8c8c8c),
            c(0xcccccc),
        ],
    },
    Palette {
        name: "rainbow",
        description: "the full spectrum on near-black",
        background: c(0x111118),
        colours: &[
            c(0xff595e),
            c(0xff924c),
            c(0xffca3a),
            c(0x8ac926),
            c(0x1982c4),
            c(0x6a4c93),
        ],
    },
    Palette {
        name: "stained-glass",
        description: "jewel tones on lead grey, like a rose window",
        background: c(0x1b1b1f),
        colours: &[
            c(0xe63946),
            c(0x1d3557),
            c(0xf1c40f),
            c(0x2a9d8f),
            c(0x8e44ad),
            c(0xf4a261),
        ],
    },
];

/// Finds a named palette, ignoring case.
pub fn find(name: &str) -> Option<&'static Palette> {
    PALETTES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

/// Every name a user may type: the curated palettes plus [`HARMONY`].
pub fn names() -> impl Iterator<Item = &'static str> {
    PALETTES
        .iter()
        .map(|p| p.name)
        .chain(std::iter::once(HARMONY))
}

/// A harmonious palette drawn from the stream: a base hue and an harmony rule
/// (analogous, complementary, triadic, split) in OKLCH, with even lightness
/// steps, on a dark or light background of the base hue.
pub fn harmonious(stream: &mut Stream, count: usize) -> (Rgb, Vec<Rgb>) {
    let base = stream.unit() * 360.0;
    let offsets: &[f64] = match stream.below(4) {
        0 => &[0.0, 25.0, -25.0, 50.0],
        1 => &[0.0, 180.0, 15.0, 195.0],
        2 => &[0.0, 120.0, 240.0],
        _ => &[0.0, 150.0, 210.0, 30.0],
    };
    let dark = stream.unit() < 0.7;
    let background = if dark {
        oklch(0.16, 0.035, base)
    } else {
        oklch(0.96, 0.02, base + 40.0)
    };
    let colours = (0..count)
        .map(|i| {
            let hue = base + offsets[i % offsets.len()];
            let step = i as f64 / count.max(1) as f64;
            let (l, ch) = if dark {
                (0.88 - 0.35 * step, 0.13 + 0.04 * stream.unit())
            } else {
                (0.42 + 0.3 * step, 0.14 + 0.04 * stream.unit())
            };
            oklch(l, ch, hue)
        })
        .collect();
    (background, colours)
}

/// OKLCH (lightness 0..1, chroma, hue in degrees) to sRGB, clamped to gamut.
pub fn oklch(l: f64, c: f64, hue_degrees: f64) -> Rgb {
    let h = hue_degrees.to_radians();
    let (a, b) = (c * h.cos(), c * h.sin());
    let l_ = l + 0.396_337_777_4 * a + 0.215_803_757_3 * b;
    let m_ = l - 0.105_561_345_8 * a - 0.063_854_172_8 * b;
    let s_ = l - 0.089_484_177_5 * a - 1.291_485_548 * b;
    let (l3, m3, s3) = (l_ * l_ * l_, m_ * m_ * m_, s_ * s_ * s_);
    let r = 4.076_741_662_1 * l3 - 3.307_711_591_3 * m3 + 0.230_969_929_2 * s3;
    let g = -1.268_438_004_6 * l3 + 2.609_757_401_1 * m3 - 0.341_319_396_5 * s3;
    let bl = -0.004_196_086_3 * l3 - 0.703_418_614_7 * m3 + 1.707_614_701 * s3;
    let encode = |x: f64| {
        let x = x.clamp(0.0, 1.0);
        let v = if x <= 0.003_130_8 {
            12.92 * x
        } else {
            1.055 * x.powf(1.0 / 2.4) - 0.055
        };
        (v * 255.0).round() as u8
    };
    Rgb::new(encode(r), encode(g), encode(bl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_twelve_named_palettes_with_unique_names() {
        assert!(PALETTES.len() >= 12);
        let mut names: Vec<_> = PALETTES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PALETTES.len());
        assert!(
            PALETTES.iter().any(|p| p.background.luminance() > 0.8),
            "no light palette"
        );
        assert!(
            PALETTES.iter().any(|p| p.background.luminance() < 0.05),
            "no dark palette"
        );
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(find("OCEAN").map(|p| p.name), Some("ocean"));
        assert!(find("nope").is_none());
    }

    #[test]
    fn oklch_white_and_black() {
        assert_eq!(oklch(1.0, 0.0, 0.0), Rgb::new(255, 255, 255));
        assert_eq!(oklch(0.0, 0.0, 0.0), Rgb::new(0, 0, 0));
    }
}
