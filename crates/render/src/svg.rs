//! The SVG writer: a [`Scene`] as deterministic text.
//!
//! Same scene, same bytes: numbers have a fixed format (two decimals,
//! trailing zeros trimmed), elements come in scene order, there are no
//! timestamps and no generated ids. The resolved spec rides along in
//! `<metadata>` so an SVG can be traced back to its spec like a PNG.

use std::fmt::Write as _;

use crate::marks::{SVG_CLOSE, SVG_OPEN};
use crate::raster::alpha_u8;
use crate::scene::{Paint, PathPart, PixSeg, Scene};

/// The scene as an SVG document.
pub fn write(scene: &Scene) -> String {
    let mut out = String::with_capacity(4096 + scene.items.len() * 2048);
    let s = scene.size;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{s}\" height=\"{s}\" viewBox=\"0 0 {s} {s}\">"
    );
    out.push_str(SVG_OPEN);
    escape_into(&scene.spec_json, &mut out);
    out.push_str(SVG_CLOSE);
    out.push('\n');
    if let Some(bg) = scene.background {
        let _ = writeln!(out, "<rect width=\"{s}\" height=\"{s}\" fill=\"{bg}\"/>");
    }
    for item in &scene.items {
        out.push_str("<path d=\"");
        path_data(&item.path, &mut out);
        out.push('"');
        match item.paint {
            Paint::Fill { colour, alpha, .. } => {
                let _ = write!(out, " fill=\"{colour}\"");
                opacity(" fill-opacity", alpha, &mut out);
            }
            Paint::Stroke {
                colour,
                alpha,
                width,
            } => {
                let _ = write!(out, " fill=\"none\" stroke=\"{colour}\" stroke-width=\"");
                num(width, &mut out);
                out.push_str("\" stroke-linejoin=\"round\" stroke-linecap=\"round\"");
                opacity(" stroke-opacity", alpha, &mut out);
            }
        }
        out.push_str("/>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn opacity(attr: &str, alpha: f32, out: &mut String) {
    // Quantised like the raster paint, so both back ends agree.
    let a = alpha_u8(alpha);
    if a < 255 {
        let _ = write!(out, "{attr}=\"{:.3}\"", f32::from(a) / 255.0);
    }
}

fn path_data(parts: &[PathPart], out: &mut String) {
    for part in parts {
        out.push('M');
        pt(part.start, out);
        let mut last = None;
        for seg in &part.segs {
            match *seg {
                PixSeg::Line(p) => {
                    out.push(if last == Some('L') { ' ' } else { 'L' });
                    pt(p, out);
                    last = Some('L');
                }
                PixSeg::Cubic(a, b, p) => {
                    out.push(if last == Some('C') { ' ' } else { 'C' });
                    pt(a, out);
                    out.push(' ');
                    pt(b, out);
                    out.push(' ');
                    pt(p, out);
                    last = Some('C');
                }
            }
        }
        if part.closed {
            out.push('Z');
        }
    }
}

fn pt(p: [f32; 2], out: &mut String) {
    num(p[0], out);
    out.push(',');
    num(p[1], out);
}

/// Two decimals, trailing zeros and a negative zero dropped.
fn num(v: f32, out: &mut String) {
    let mut s = format!("{v:.2}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    out.push_str(&s);
}

fn escape_into(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(ch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_stable() {
        let mut s = String::new();
        for v in [1.0, 1.5, -0.001, 12.345, 100.1] {
            num(v, &mut s);
            s.push(' ');
        }
        assert_eq!(s, "1 1.5 0 12.35 100.1 ");
    }
}
