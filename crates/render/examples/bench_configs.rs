//! The renderer's side of `docs/bench/render_vs_reference.sh`: renders the
//! reference's `default_1024` and `rich_1024` configurations (20 images
//! each, seeds 1000..1020 after one warm-up, like RandomMandala's bench.py)
//! and prints one JSON object per configuration with median milliseconds per
//! phase, PNG sizes and the process's peak RSS.
//!
//! `cargo run --release -p mandala-render --example bench_configs [-- --n 20] [--out DIR]`

#[path = "../benches/support/configs.rs"]
mod configs;

use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut n = 20u64;
    let mut out_dir: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().ok_or("--n COUNT")?.parse()?,
            "--out" => out_dir = Some(args.next().ok_or("--out DIR")?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    for (name, make) in configs::CONFIGS {
        let warm = Instant::now();
        mandala_render::render_to_bytes(&make(999))?;
        let first_ms = ms(warm.elapsed());
        let mut rows = Vec::new();
        for i in 0..n {
            let spec = make(1000 + i);
            let t = Instant::now();
            let r = mandala_render::render_to_bytes(&spec)?;
            let total = t.elapsed();
            if let Some(dir) = &out_dir {
                std::fs::create_dir_all(format!("{dir}/{name}"))?;
                std::fs::write(format!("{dir}/{name}/{i:02}.png"), &r.bytes)?;
            }
            rows.push((total, r.geometry, r.raster, r.encode, r.bytes.len()));
        }
        let med = |f: fn(&(Duration, Duration, Duration, Duration, usize)) -> f64| {
            let mut v: Vec<f64> = rows.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            let m = v.len() / 2;
            if v.len().is_multiple_of(2) {
                f64::midpoint(v[m - 1], v[m])
            } else {
                v[m]
            }
        };
        let sizes: Vec<usize> = rows.iter().map(|r| r.4).collect();
        println!(
            "{{\"config\":\"{name}\",\"n\":{n},\"first_ms\":{first_ms:.3},\"total_ms\":{{\"min\":{:.3},\"median\":{:.3},\"max\":{:.3}}},\"geometry_ms\":{:.3},\"raster_ms\":{:.3},\"encode_ms\":{:.3},\"png_kib\":{{\"min\":{:.1},\"median\":{:.1},\"max\":{:.1}}},\"peak_rss_kib\":{}}}",
            rows.iter().map(|r| ms(r.0)).fold(f64::INFINITY, f64::min),
            med(|r| ms(r.0)),
            rows.iter().map(|r| ms(r.0)).fold(0.0, f64::max),
            med(|r| ms(r.1)),
            med(|r| ms(r.2)),
            med(|r| ms(r.3)),
            sizes.iter().copied().min().unwrap_or(0) as f64 / 1024.0,
            med(|r| r.4 as f64) / 1024.0,
            sizes.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
            peak_rss_kib(),
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// VmHWM from /proc (Linux); 0 elsewhere.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
