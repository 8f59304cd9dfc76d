//! Encoded output: determinism, pinned golden hashes, the spec carried in
//! the PNG, and files that real decoders read back to the rendered pixels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mandala_model::{Background, Format, RENDER_VERSION, RenderSpec, ResolvedSpec, StyleChoice};
use sha2::{Digest, Sha256};

fn spec(seed: u64, size: u32, format: Format) -> ResolvedSpec {
    RenderSpec {
        seed: Some(seed),
        size: Some(size),
        format: Some(format),
        ..RenderSpec::default()
    }
    .resolve()
    .unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn same_spec_gives_the_same_bytes() {
    for format in [Format::Png, Format::Webp, Format::Svg] {
        let s = spec(31337, 320, format);
        let a = mandala_render::render_to_bytes(&s).unwrap();
        let b = mandala_render::render_to_bytes(&s.clone()).unwrap();
        assert_eq!(a.bytes, b.bytes, "{format:?}");
        assert_eq!(a.content_type, format.content_type());
        assert_ne!(
            a.bytes,
            mandala_render::render_to_bytes(&spec(31338, 320, format))
                .unwrap()
                .bytes,
            "{format:?}: different seeds, same image"
        );
    }
}

/// The pinned renders. When output changes on purpose, bump RENDER_VERSION
/// in mandala-model and update these (the failure message prints the new
/// values).
#[test]
fn golden_hashes() {
    let cases: [(&str, ResolvedSpec); 6] = [
        ("png seed 1", spec(1, 256, Format::Png)),
        ("png seed 2024", spec(2024, 256, Format::Png)),
        (
            "png transparent spline",
            RenderSpec {
                seed: Some(77),
                size: Some(200),
                style: Some(StyleChoice::Spline),
                background: Some(Background::Transparent),
                ornaments: Some(true),
                ..RenderSpec::default()
            }
            .resolve()
            .unwrap(),
        ),
        ("webp seed 5", spec(5, 200, Format::Webp)),
        ("svg seed 5", spec(5, 200, Format::Svg)),
        ("svg seed 9", spec(9, 512, Format::Svg)),
    ];
    assert_eq!(
        RENDER_VERSION, 1,
        "update the golden hashes with the version"
    );
    let got: Vec<(String, String)> = cases
        .iter()
        .map(|(name, s)| {
            (
                (*name).to_owned(),
                sha(&mandala_render::render_to_bytes(s).unwrap().bytes),
            )
        })
        .collect();
    let want = [
        (
            "png seed 1",
            "028f98b7047c798fc0bbcba9b2dab8a146927b79da7da1a94c996a96d7e6292c",
        ),
        (
            "png seed 2024",
            "bf64b440db6adf5f730959fabc5b4c65a747c2642a06fcc8a8e4bc27c627f195",
        ),
        (
            "png transparent spline",
            "c603704c0134afb3d498d1921afc1a027ccc2ed8bc07d673f4c6d2626c40df9b",
        ),
        (
            "webp seed 5",
            "267ce3d3e3cdc6d7b41bd96cc60d093c6c24de64f486d8339dab7fe5f982680d",
        ),
        (
            "svg seed 5",
            "8b800044bece1baa0bb25a97d8b892ab85d28b8237133315a0bc2f19600eec4b",
        ),
        (
            "svg seed 9",
            "0d16153e769994ff2f899652aded3c54b50dd9e5be854107836dc51f551a9d44",
        ),
    ];
    let lines: Vec<String> = got
        .iter()
        .map(|(n, g)| format!("        (\"{n}\", \"{g}\"),"))
        .collect();
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|((gn, g), (wn, w))| gn == wn && g == w);
    assert!(same, "golden hashes changed, now:\n{}", lines.join("\n"));
}

#[test]
fn spec_round_trips_through_the_png_chunk() {
    for seed in [0, 1, 42, u64::MAX] {
        let s = spec(seed, 128, Format::Png);
        let png = mandala_render::render_to_bytes(&s).unwrap().bytes;
        let back = mandala_render::spec_from_png(&png).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.hash(), s.hash());
    }
}

#[test]
fn spec_from_png_explains_what_is_wrong() {
    use mandala_render::SpecFromPngError;
    assert!(matches!(
        mandala_render::spec_from_png(b"GIF89a not a png"),
        Err(SpecFromPngError::NotPng(_))
    ));
    // A valid PNG without our chunk.
    let mut plain = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut plain, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0; 12]).unwrap();
    }
    assert!(matches!(
        mandala_render::spec_from_png(&plain),
        Err(SpecFromPngError::NoSpec)
    ));
}

#[test]
fn png_and_webp_decode_to_the_rendered_pixels() {
    for background in [
        Background::Colour(mandala_model::Rgb::hex(0x102030)),
        Background::Transparent,
    ] {
        for format in [Format::Png, Format::Webp] {
            let s = ResolvedSpec {
                background,
                ..spec(8, 160, format)
            };
            let bytes = mandala_render::render_to_bytes(&s).unwrap().bytes;
            let image_format = match format {
                Format::Png => image::ImageFormat::Png,
                _ => image::ImageFormat::WebP,
            };
            let decoded = image::load_from_memory_with_format(&bytes, image_format).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (160, 160));
            let opaque = matches!(background, Background::Colour(_));
            assert_eq!(decoded.color().has_alpha(), !opaque, "{format:?}");
            let decoded = decoded.to_rgba8();
            let pixmap = mandala_render::render(&s).unwrap();
            for (px, want) in decoded.pixels().zip(pixmap.pixels()) {
                let want = want.demultiply();
                let (r, g, b, a) = (want.red(), want.green(), want.blue(), want.alpha());
                assert_eq!(px.0[3], a, "{format:?}");
                if a > 0 {
                    // Demultiplying rounds; allow one step.
                    for (got, w) in px.0[..3].iter().zip([r, g, b]) {
                        assert!(got.abs_diff(w) <= 1, "{format:?} {px:?} vs {want:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn svg_is_a_deterministic_document_of_the_scene() {
    let s = spec(12, 300, Format::Svg);
    let bytes = mandala_render::render_to_bytes(&s).unwrap().bytes;
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(text.trim_end().ends_with("</svg>"));
    let scene = mandala_render::scene(&s).unwrap();
    assert_eq!(text.matches("<path ").count(), scene.items.len());
    assert!(text.contains(&s.canonical_json().replace('&', "&amp;")));
    for forbidden in ["date", "Date", "id=\"clip", "NaN", "inf"] {
        assert!(!text.contains(forbidden), "{forbidden}");
    }
}

#[test]
fn invalid_specs_are_errors_not_panics() {
    let mut s = spec(1, 256, Format::Png);
    s.size = 10;
    assert!(matches!(
        mandala_render::render_to_bytes(&s),
        Err(mandala_render::RenderError::Spec(_))
    ));
    let mut s = spec(1, 256, Format::Png);
    s.layers.clear();
    assert!(mandala_render::render(&s).is_err());
}
