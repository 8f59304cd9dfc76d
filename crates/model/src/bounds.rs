//! The limits every user-supplied render option is checked against.
//!
//! They live in one place so that validation, the slash-command definition
//! (`min_value`/`max_value`), the CLI's error messages and the docs agree.

use std::ops::RangeInclusive;

/// Image edge in pixels. Below 64 nothing is recognisable; above 4096 a PNG
/// may exceed Discord's 10 MiB attachment limit and a render takes seconds.
pub const SIZE: RangeInclusive<u32> = 64..=4096;
/// Rotational symmetry order (number of copies of the seed wedge).
pub const SYMMETRY: RangeInclusive<u32> = 2..=64;
/// Number of concentric layers.
pub const LAYERS: RangeInclusive<u32> = 1..=12;
/// Points per ray of the seed wedge (the Bézier degree is `2n - 1`).
pub const ELEMENTS: RangeInclusive<u32> = 2..=32;
/// Colours in a custom palette.
pub const PALETTE_COLOURS: RangeInclusive<usize> = 1..=16;

/// Size used when a spec leaves it open.
pub const DEFAULT_SIZE: u32 = 1024;
/// Upscale never goes beyond this edge.
pub const UPSCALE_MAX: u32 = 4096;

/// Renders a range the way error messages show it, e.g. `2..=64`.
pub fn describe<T: std::fmt::Display>(range: &RangeInclusive<T>) -> String {
    format!("{}..={}", range.start(), range.end())
}
