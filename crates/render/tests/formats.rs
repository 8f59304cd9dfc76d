//! Encoded output: determinism, pinned golden hashes, the spec carried in
//! every format, files that real decoders (libwebp's among them) read back
//! to the rendered pixels, and the largest possible image against
//! Discord's upload limit.
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

/// The pinned renders. When the pixels change on purpose, bump
/// RENDER_VERSION in mandala-model and update these (the failure message
/// prints the new values); an encoder change that keeps every pixel (as
/// the WebP encoder's did, and again with its fast search) only updates
/// its hashes. The WebP hashes were computed on an Intel Xeon (x86-64,
/// AVX-512) and must match on every machine and in every build: the
/// encoder is integer-only Rust.
#[test]
fn golden_hashes() {
    let cases: [(&str, ResolvedSpec); 8] = [
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
                format: Some(Format::Png),
                ..RenderSpec::default()
            }
            .resolve()
            .unwrap(),
        ),
        ("webp seed 5", spec(5, 200, Format::Webp)),
        (
            "webp seed 1001 default size",
            spec(1001, 1024, Format::Webp),
        ),
        (
            "webp transparent bezier",
            RenderSpec {
                seed: Some(12),
                size: Some(300),
                style: Some(StyleChoice::Bezier),
                background: Some(Background::Transparent),
                format: Some(Format::Webp),
                ..RenderSpec::default()
            }
            .resolve()
            .unwrap(),
        ),
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
            "28587519c52b26943e85f7ff4de256238343e96b607f4767a8f183665923960f",
        ),
        (
            "webp seed 1001 default size",
            "c5bab8301dfdef4ade3e4e13b6487dcd96ac6b2846e223dafa9efe72df9776d4",
        ),
        (
            "webp transparent bezier",
            "b74fed82d69348b5a690ac66ff72f712bc7a7b2a82d0e53e2326e935ddce5284",
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
fn spec_round_trips_through_every_format() {
    for format in [Format::Png, Format::Webp, Format::Svg] {
        for seed in [0, 1, 42, u64::MAX] {
            let s = spec(seed, 128, format);
            let file = mandala_render::render_to_bytes(&s).unwrap().bytes;
            let back = mandala_render::spec_from_image(&file).unwrap();
            assert_eq!(back, s, "{format:?}");
            assert_eq!(back.hash(), s.hash());
        }
    }
    // A transparent WebP too (VP8X alpha flag set, RGBA bitstream).
    let s = ResolvedSpec {
        background: Background::Transparent,
        ..spec(3, 96, Format::Webp)
    };
    let file = mandala_render::render_to_bytes(&s).unwrap().bytes;
    assert_eq!(mandala_render::spec_from_image(&file).unwrap(), s);
}

#[test]
fn spec_from_image_explains_what_is_wrong() {
    use mandala_render::SpecFromImageError;
    assert!(matches!(
        mandala_render::spec_from_image(b"GIF89a not a png"),
        Err(SpecFromImageError::Unrecognised)
    ));
    assert!(matches!(
        mandala_render::spec_from_image(b"\x89PNG\r\n\x1a\n broken"),
        Err(SpecFromImageError::Corrupt { format: "PNG", .. })
    ));
    assert!(matches!(
        mandala_render::spec_from_image(b"RIFF\xff\0\0\0WEBPVP8L\xff\0\0\0"),
        Err(SpecFromImageError::Corrupt { format: "WebP", .. })
    ));
    // A WebP without our XMP: the pure-Rust encoder's plain file.
    let mut plain_webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut plain_webp)
        .encode(&[0; 12], 2, 2, image::ExtendedColorType::Rgb8)
        .unwrap();
    assert!(matches!(
        mandala_render::spec_from_image(&plain_webp),
        Err(SpecFromImageError::NoSpec("WebP"))
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
        mandala_render::spec_from_image(&plain),
        Err(SpecFromImageError::NoSpec("PNG"))
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

/// The WebP the bot sends and the PNG it sent before hold the same pixels,
/// exactly, through both the pure-Rust decoder and libwebp's.
#[test]
fn webp_holds_exactly_the_png_pixels() {
    for background in [None, Some(Background::Transparent)] {
        let s = RenderSpec {
            seed: Some(2024),
            size: Some(400),
            background,
            ornaments: Some(true),
            ..RenderSpec::default()
        }
        .resolve()
        .unwrap();
        let png = ResolvedSpec {
            format: Format::Png,
            ..s.clone()
        };
        let webp = ResolvedSpec {
            format: Format::Webp,
            ..s
        };
        let png = mandala_render::render_to_bytes(&png).unwrap().bytes;
        let webp = mandala_render::render_to_bytes(&webp).unwrap().bytes;
        let want = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_rgba8();
        let got = image::load_from_memory_with_format(&webp, image::ImageFormat::WebP)
            .unwrap()
            .to_rgba8();
        assert!(got == want, "image-webp: pixels differ ({background:?})");
        let reference = webp::Decoder::new(&webp)
            .decode()
            .expect("libwebp decodes it");
        let want_raw: Vec<u8> = if reference.is_alpha() {
            want.as_raw().clone()
        } else {
            want.pixels()
                .flat_map(|p| [p.0[0], p.0[1], p.0[2]])
                .collect()
        };
        assert_eq!(reference.is_alpha(), background.is_some());
        assert!(
            reference[..] == want_raw[..],
            "libwebp: pixels differ ({background:?})"
        );
        assert!(
            webp.len() * 2 < png.len(),
            "{} vs {}",
            webp.len(),
            png.len()
        );
    }
}

/// Discord's upload limit per file for a bot without boosts. Its API
/// reference ("Uploading Files", discord/discord-api-docs,
/// developers/reference.mdx) said 10 MiB from 2024 and says 20 MiB in its
/// newer revision; the worker keeps to the smaller (`ATTACHMENT_LIMIT`).
const DISCORD_UPLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// The largest image the bounds allow, in the default format: the busiest
/// spec of `examples/worst_case.rs`'s search (12 layers × 32 elements,
/// 64-fold mirrored, ornaments, 16 colours, a transparent background, so
/// every pixel carries alpha) at 4096². Its PNG is 8.3 MiB; the WebP must
/// fit Discord's limit with room to spare, or the worker's smaller-preview
/// fallback would be the normal case for upscales.
#[test]
fn the_largest_image_fits_discords_upload_limit() {
    let palette = "#e63946,#f1c40f,#2a9d8f,#264653,#e9c46a,#f4a261,#8ecae6,#219ebc,\
                   #023047,#ffb703,#fb8500,#8338ec,#3a86ff,#ff006e,#06d6a0,#118ab2";
    let worst = RenderSpec {
        seed: Some(2),
        size: Some(mandala_model::bounds::UPSCALE_MAX),
        symmetry: Some(64),
        mirror: Some(true),
        layers: Some(12),
        elements: Some(32),
        ornaments: Some(true),
        style: Some(StyleChoice::Bezier),
        palette: Some(palette.parse().unwrap()),
        background: Some(Background::Transparent),
        ..RenderSpec::default()
    }
    .resolve()
    .unwrap();
    assert_eq!(
        worst.format,
        Format::default(),
        "the default format is tested"
    );
    let bytes = mandala_render::render_to_bytes(&worst).unwrap().bytes;
    assert!(
        bytes.len() <= DISCORD_UPLOAD_LIMIT / 2,
        "the worst case is {} bytes, over half of Discord's {DISCORD_UPLOAD_LIMIT}",
        bytes.len()
    );
    assert_eq!(mandala_render::spec_from_image(&bytes).unwrap(), worst);
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
