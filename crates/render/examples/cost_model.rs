//! Fits the queue's cost model (`mandala_model::cost`) to this machine.
//!
//! Renders random specs across the whole option space (edges 256–4096,
//! 1–12 layers, 2–32 elements, every style, ornaments on and off, PNG, WebP
//! and SVG), times each render, and fits the model's coefficients by least
//! squares on *relative* error (a 4096² render must not drown out the small
//! ones), keeping every coefficient non-negative. Prints the fitted
//! coefficients and, for both them and the compiled-in ones, how far the
//! prediction is from the measured time (median and p90 of |error| / time).
//! The compiled-in coefficients only need the ratios between specs right:
//! the worker calibrates work units against its own CPUs at run time.
//!
//! `cargo run --release -p mandala-render --example cost_model [-- --n 300 --seed 1 --dump samples.jsonl]`

use std::fmt::Write as _;
use std::time::Instant;

use mandala_model::cost::{COEFFICIENTS, CostFeatures, FEATURE_NAMES, FEATURES};
use mandala_model::stream::Stream;
use mandala_model::{Format, RenderSpec, StyleChoice};

const SIZES: [u32; 7] = [256, 512, 768, 1024, 1536, 2048, 4096];
const STYLES: [StyleChoice; 6] = [
    StyleChoice::Line,
    StyleChoice::Fill,
    StyleChoice::Bezier,
    StyleChoice::BezierFill,
    StyleChoice::Spline,
    StyleChoice::Random,
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut n = 300u64;
    let mut seed = 1u64;
    let mut dump: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().ok_or("--n COUNT")?.parse()?,
            "--seed" => seed = args.next().ok_or("--seed N")?.parse()?,
            "--dump" => dump = Some(args.next().ok_or("--dump PATH")?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut s = Stream::new(seed, 0xc057);
    let mut samples: Vec<(CostFeatures, f64)> = Vec::new();
    let mut lines = String::new();
    // One warm-up render so first-touch costs do not land on a sample.
    mandala_render::render_to_bytes(&RenderSpec::default().with_seed_from(b"warm").resolve()?)?;
    for i in 0..n {
        let format = match s.below(10) {
            0 => Format::Svg,
            1 | 2 => Format::Webp,
            _ => Format::Png,
        };
        let spec = RenderSpec {
            seed: Some(s.next_u64() >> 12),
            size: Some(*s.pick(&SIZES)),
            layers: Some(s.range(1, 12)),
            elements: Some(s.range(2, 32)),
            symmetry: s.chance(0.5).then(|| s.range(2, 64)),
            style: Some(*s.pick(&STYLES)),
            ornaments: Some(s.chance(0.5)),
            format: Some(format),
            ..Default::default()
        }
        .resolve()?;
        let t = Instant::now();
        let r = mandala_render::render_to_bytes(&spec)?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        let _ = writeln!(
            lines,
            "{{\"us\":{us:.0},\"geometry_us\":{},\"raster_us\":{},\"encode_us\":{},\"bytes\":{},\"spec\":{}}}",
            r.geometry.as_micros(),
            r.raster.as_micros(),
            r.encode.as_micros(),
            r.bytes.len(),
            spec.canonical_json()
        );
        samples.push((spec.cost_features(), us));
        if (i + 1) % 50 == 0 {
            eprintln!("{} / {n} rendered", i + 1);
        }
    }
    if let Some(path) = dump {
        std::fs::write(&path, lines)?;
    }
    let fitted = fit(&samples);
    println!("fitted coefficients (paste into crates/model/src/cost.rs):");
    for (name, c) in FEATURE_NAMES
        .iter()
        .chain(std::iter::once(&"constant"))
        .zip(fitted)
    {
        println!("  {name:>22}: {c:.3e}");
    }
    let heavy: Vec<(CostFeatures, f64)> = samples
        .iter()
        .copied()
        .filter(|(_, us)| *us >= 50_000.0)
        .collect();
    for (name, c) in [("fitted", &fitted), ("compiled-in", &COEFFICIENTS)] {
        for (which, set) in [("all", &samples), ("those of 50 ms or more", &heavy)] {
            if set.is_empty() {
                continue;
            }
            let (median, p90) = errors(set, c);
            println!(
                "{name}: |prediction - time| / time, {which} ({}): median {:.0}%, p90 {:.0}%",
                set.len(),
                median * 100.0,
                p90 * 100.0
            );
        }
    }
    Ok(())
}

const K: usize = FEATURES + 1;

fn row(f: &CostFeatures) -> [f64; K] {
    let mut r = [1.0; K];
    r[..FEATURES].copy_from_slice(&f.0);
    r
}

/// Non-negative weighted least squares by active set: solve the normal
/// equations, drop the most negative coefficient, repeat.
fn fit(samples: &[(CostFeatures, f64)]) -> [f64; K] {
    let mut active = [true; K];
    loop {
        let c = solve(samples, &active);
        let worst = (0..K)
            .filter(|&j| active[j] && c[j] < 0.0)
            .min_by(|&a, &b| c[a].total_cmp(&c[b]));
        match worst {
            Some(j) => active[j] = false,
            None => return c,
        }
    }
}

fn solve(samples: &[(CostFeatures, f64)], active: &[bool; K]) -> [f64; K] {
    let idx: Vec<usize> = (0..K).filter(|&j| active[j]).collect();
    let k = idx.len();
    let mut m = vec![vec![0.0; k + 1]; k];
    for (f, t) in samples {
        let x = row(f);
        let w = 1.0 / (t * t);
        for (a, &ja) in idx.iter().enumerate() {
            for (b, &jb) in idx.iter().enumerate() {
                m[a][b] += w * x[ja] * x[jb];
            }
            m[a][k] += w * x[ja] * t;
        }
    }
    // Gauss-Jordan with partial pivoting; a feature that never varies (all
    // zero) leaves a zero pivot and gets coefficient 0.
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap_or(col);
        m.swap(col, pivot);
        let p = m[col][col];
        if p.abs() < 1e-30 {
            continue;
        }
        for v in &mut m[col] {
            *v /= p;
        }
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let factor = row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row) {
                    *x -= factor * p;
                }
            }
        }
    }
    let mut out = [0.0; K];
    for (a, &j) in idx.iter().enumerate() {
        out[j] = m[a][k];
    }
    out
}

fn errors(samples: &[(CostFeatures, f64)], c: &[f64; K]) -> (f64, f64) {
    // Compare shapes, not scale: the worker calibrates the scale at run time.
    let ratio: Vec<f64> = samples.iter().map(|(f, t)| t / f.predict(c)).collect();
    let mut sorted = ratio.clone();
    sorted.sort_by(f64::total_cmp);
    let scale = sorted[sorted.len() / 2];
    let mut e: Vec<f64> = samples
        .iter()
        .map(|(f, t)| ((f.predict(c) * scale - t) / t).abs())
        .collect();
    e.sort_by(f64::total_cmp);
    (e[e.len() / 2], e[e.len() * 9 / 10])
}
