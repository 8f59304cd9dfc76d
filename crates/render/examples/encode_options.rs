//! The measurement behind the default encoding: renders the default image
//! of each benchmark seed once, then encodes the same pixels with every
//! candidate — the PNG the bot sent before (fdeflate fast, Up), PNG at
//! zlib's best with adaptive filtering, the lossless WebP encoder the
//! renderer used before (image-webp), ours (`encode::vp8l`), and libwebp's
//! lossless encoder at each of `cwebp -z 0..9`'s (method, quality) presets
//! or the pairs given — and prints, per candidate, the median bytes and
//! encode time and the ratio to the old PNG. Every WebP is decoded back and
//! compared with the PNG pixel for pixel. libwebp's files are its simple
//! format without metadata; ours carry the XMP spec (about 700 bytes).
//!
//! `cargo run --release -p mandala-render --example encode_options [-- --size 1024 --seeds 1000..1020 --efforts 3:30,4:0 | --quick] [--repeat N]`
//!
//! `--repeat N` times every encoder N times per seed and keeps the fastest
//! (the machine is shared; the minimum is the least disturbed).

use std::time::Instant;

use mandala_model::{Format, RenderSpec};
use mandala_render::encode;

/// `cwebp -z` presets as libwebp's `WebPConfigLosslessPreset` sets them:
/// (method, quality) for levels 0..=9.
const Z_PRESETS: [(i32, f32); 10] = [
    (0, 0.0),
    (1, 20.0),
    (2, 25.0),
    (3, 30.0),
    (3, 50.0),
    (4, 50.0),
    (4, 75.0),
    (4, 90.0),
    (5, 90.0),
    (6, 100.0),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut size = 1024u32;
    let mut seeds = 1000u64..1020;
    let mut efforts: Vec<(String, i32, f32)> = Z_PRESETS
        .iter()
        .enumerate()
        .map(|(z, &(m, q))| (format!("libwebp -z {z} (method {m}, quality {q})"), m, q))
        .collect();
    let mut quick = false;
    let mut repeat = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = args.next().ok_or("--size PX")?.parse()?,
            "--seeds" => {
                let v = args.next().ok_or("--seeds A..B")?;
                let (a, b) = v.split_once("..").ok_or("--seeds A..B")?;
                seeds = a.parse()?..b.parse()?;
            }
            // Only the PNG before and ours (fast, for large sizes).
            "--quick" => quick = true,
            "--repeat" => repeat = args.next().ok_or("--repeat N")?.parse::<usize>()?.max(1),
            // Method:quality pairs instead of the -z presets, e.g. 3:30,4:0
            "--efforts" => {
                efforts = Vec::new();
                for pair in args.next().ok_or("--efforts M:Q,..")?.split(',') {
                    let (m, q) = pair.split_once(':').ok_or("--efforts M:Q,..")?;
                    let (m, q) = (m.parse()?, q.parse()?);
                    efforts.push((format!("libwebp method {m}, quality {q}"), m, q));
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut names: Vec<String> = vec![
        "png fast (before)".into(),
        "png zlib best, adaptive".into(),
        "image-webp lossless".into(),
        "ours: VP8L, subtract green + LZ77".into(),
    ];
    if quick {
        efforts.clear();
    }
    names.extend(efforts.iter().map(|e| e.0.clone()));
    // rows[candidate] = [(bytes, ms)] per seed
    let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); names.len()];
    for seed in seeds.clone() {
        let spec = RenderSpec {
            seed: Some(seed),
            size: Some(size),
            format: Some(Format::Png),
            ..RenderSpec::default()
        }
        .resolve()?;
        let scene = mandala_render::scene(&spec)?;
        let pixmap = mandala_render::render(&spec)?;
        let opaque = scene.background.is_some() || encode::is_opaque(&pixmap);
        let time = |f: &mut dyn FnMut() -> Result<Vec<u8>, mandala_render::RenderError>| {
            let mut best = f64::INFINITY;
            let mut out = Err(mandala_render::RenderError::Encode("not run".into()));
            for _ in 0..repeat {
                let t = Instant::now();
                out = f();
                best = best.min(t.elapsed().as_secs_f64() * 1e3);
            }
            (out, best)
        };
        let (png, ms) = time(&mut || encode::png(&pixmap, &scene.spec_json, opaque));
        let png = png?;
        rows[0].push((png.len(), ms));
        let want = image::load_from_memory_with_format(&png, image::ImageFormat::Png)?.to_rgba8();
        if !quick {
            let (b, ms) = time(&mut || encode::png_compact(&pixmap, &scene.spec_json, opaque));
            rows[1].push((b?.len(), ms));
            let (b, ms) = time(&mut || image_webp(&pixmap, opaque));
            let b = b?;
            check_pixels(&b, &want)?;
            rows[2].push((b.len(), ms));
        }
        let (b, ms) = time(&mut || encode::webp(&pixmap, &scene.spec_json, opaque));
        let b = b?;
        check_pixels(&b, &want)?;
        rows[3].push((b.len(), ms));
        for (i, &(_, method, quality)) in efforts.iter().enumerate() {
            let (b, ms) = time(&mut || libwebp(&pixmap, opaque, method, quality));
            let b = b?;
            check_pixels(&b, &want)?;
            rows[4 + i].push((b.len(), ms));
        }
        eprintln!("seed {seed} done");
    }
    let base = median(rows[0].iter().map(|r| r.0 as f64).collect());
    println!(
        "| encoder ({size}², seeds {}..{}) | median KiB | mean KiB | min / max KiB | median encode ms | bytes vs PNG before (median) |",
        seeds.start, seeds.end
    );
    println!("|---|---|---|---|---|---|");
    for (name, row) in names.iter().zip(&rows) {
        if row.is_empty() {
            continue;
        }
        let mean = row.iter().map(|r| r.0 as f64).sum::<f64>() / row.len() as f64 / 1024.0;
        let kib: Vec<f64> = row.iter().map(|r| r.0 as f64 / 1024.0).collect();
        let min = kib.iter().copied().fold(f64::INFINITY, f64::min);
        let max = kib.iter().copied().fold(0.0, f64::max);
        let med_bytes = median(row.iter().map(|r| r.0 as f64).collect());
        println!(
            "| {name} | {:.1} | {mean:.1} | {min:.1} / {max:.1} | {:.1} | {:.3} |",
            med_bytes / 1024.0,
            median(row.iter().map(|r| r.1).collect()),
            med_bytes / base,
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        f64::midpoint(v[m - 1], v[m])
    } else {
        v[m]
    }
}

/// The encoder the bot used before: image-webp's lossless encoder (no metadata).
fn image_webp(
    pixmap: &mandala_render::Pixmap,
    opaque: bool,
) -> Result<Vec<u8>, mandala_render::RenderError> {
    let data = encode::straight_pixels(pixmap, opaque);
    let colour = if opaque {
        image::ExtendedColorType::Rgb8
    } else {
        image::ExtendedColorType::Rgba8
    };
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(&data, pixmap.width(), pixmap.height(), colour)
        .map_err(|e| mandala_render::RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// libwebp's lossless encoder at `method` and `quality`, single-threaded,
/// keeping transparent pixels' colour (`exact`): a simple file, no metadata.
fn libwebp(
    pixmap: &mandala_render::Pixmap,
    opaque: bool,
    method: i32,
    quality: f32,
) -> Result<Vec<u8>, mandala_render::RenderError> {
    let fail = |what: String| mandala_render::RenderError::Encode(format!("libwebp: {what}"));
    let (w, h) = (pixmap.width(), pixmap.height());
    let data = encode::straight_pixels(pixmap, opaque);
    let mut config = webp::WebPConfig::new().map_err(|()| fail("config".into()))?;
    config.lossless = 1;
    config.method = method;
    config.quality = quality;
    config.exact = 1;
    config.thread_level = 0;
    let encoder = if opaque {
        webp::Encoder::from_rgb(&data, w, h)
    } else {
        webp::Encoder::from_rgba(&data, w, h)
    };
    let out = encoder
        .encode_advanced(&config)
        .map_err(|e| fail(format!("{e:?}")))?;
    Ok(out.to_vec())
}

/// Decodes `webp` and checks every pixel against the PNG's.
fn check_pixels(webp: &[u8], want: &image::RgbaImage) -> Result<(), Box<dyn std::error::Error>> {
    let got = image::load_from_memory_with_format(webp, image::ImageFormat::WebP)?.to_rgba8();
    if got.dimensions() != want.dimensions() || got.as_raw() != want.as_raw() {
        return Err("the WebP does not decode to the PNG's pixels".into());
    }
    Ok(())
}
